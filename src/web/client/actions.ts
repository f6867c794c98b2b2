/// <reference lib="dom" />
/** Operator actions (only with `runctrl serve --allow-actions`); the token is kept for the browser tab. */

export async function postAction(action: string, body: Record<string, unknown>): Promise<string> {
  let token = sessionStorage.getItem('runctrl-token') ?? '';
  if (!token) token = prompt('dashboard token (RUNCTRL_SERVE_TOKEN)') ?? '';
  const r = await fetch(`/api/actions/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Runctrl-Token': token },
    body: JSON.stringify(body),
  });
  const answer = (await r.json()) as { error?: string };
  if (r.ok) sessionStorage.setItem('runctrl-token', token);
  else if (r.status === 403) sessionStorage.removeItem('runctrl-token');
  const text = r.ok ? `${action}: done` : `${action}: ${answer.error ?? r.status}`;
  // outside the page body, which a live update may redraw at any time
  const notice = document.getElementById('notice');
  if (notice) notice.textContent = text;
  return text;
}

/** Runs by workflow from selection keys `workflow run`. */
export function byWorkflow(selected: Iterable<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const k of selected) {
    const [wf = '', run = '0'] = k.split(' ');
    out.set(wf, [...(out.get(wf) ?? []), Number(run)]);
  }
  return out;
}
