/// <reference lib="dom" />
/**
 * Operator actions (only with `runctrl serve --allow-actions`). The token is typed into a password field
 * (src/web/client/confirm.ts) and kept in sessionStorage: for this browser tab only, gone when it closes.
 */

const TOKEN_KEY = 'runctrl-token';

export function storedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export async function postAction(
  action: string,
  body: Record<string, unknown>,
  token: string,
): Promise<string> {
  const r = await fetch(`/api/actions/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Runctrl-Token': token },
    body: JSON.stringify(body),
  });
  const answer = (await r.json().catch(() => ({}))) as { error?: string };
  if (r.ok) sessionStorage.setItem(TOKEN_KEY, token);
  else if (r.status === 403) sessionStorage.removeItem(TOKEN_KEY);
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
  for (const runs of out.values()) runs.sort((a, b) => a - b);
  return out;
}
