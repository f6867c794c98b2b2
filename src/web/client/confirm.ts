/// <reference lib="dom" />
/**
 * Confirm before acting: a modal dialog listing the pairs an action affects, with the dashboard token typed
 * into a password field when this tab has none yet (and a reason for a lock). Nothing is sent on Cancel.
 */
import { postAction, storedToken } from './actions.js';
import { h } from './dom.js';

export interface ActionItem {
  workflow: string;
  runs: number[];
}

const someRuns = (runs: readonly number[], n = 40): string =>
  runs.slice(0, n).join(', ') + (runs.length > n ? ` … (${runs.length - n} more)` : '');

/** Asks, then posts the action once per item; undefined when cancelled. */
export async function confirmAction(
  action: string,
  campaign: string,
  items: readonly ActionItem[],
  extra: Record<string, unknown> = {},
  opts: { reason?: boolean; fromRun?: number } = {},
): Promise<string[] | undefined> {
  const pairs = items.reduce((n, i) => n + i.runs.length, 0);
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    required: '',
    id: 'confirm-token',
  });
  const reason = h('input', { type: 'text', name: 'reason', required: '', id: 'confirm-reason', size: '40' });
  const needToken = storedToken() === '';
  const what =
    action === 'lock'
      ? `lock ${items.map((i) => i.workflow).join(', ')} of ${campaign} from run ${opts.fromRun ?? items[0]?.runs[0] ?? 0}?`
      : `${action} ${pairs} pair(s) of ${campaign}?`;
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: 'confirm-title' }, what),
    h(
      'ul',
      { class: 'confirm-pairs' },
      ...items.map((i) => h('li', {}, `${i.workflow}: run ${someRuns(i.runs)}`)),
    ),
    opts.reason ? h('p', {}, h('label', { for: 'confirm-reason' }, 'reason '), reason) : null,
    needToken
      ? h('p', {}, h('label', { for: 'confirm-token' }, 'dashboard token (RUNCTRL_SERVE_TOKEN) '), token)
      : h('p', { class: 'muted' }, 'token of this tab (kept until it closes)'),
    h(
      'p',
      { class: 'confirm-buttons' },
      h('button', { type: 'submit', value: 'ok', 'data-confirm': 'ok' }, action),
      ' ',
      h('button', { type: 'button', value: 'cancel', 'data-confirm': 'cancel' }, 'cancel'),
    ),
  );
  const dlg = h('dialog', { id: 'confirm', 'aria-labelledby': 'confirm-title' }, form);
  document.body.append(dlg);
  const answer = await new Promise<boolean>((resolve) => {
    form.addEventListener('submit', () => resolve(true));
    form.querySelector('[data-confirm="cancel"]')?.addEventListener('click', () => {
      dlg.close();
      resolve(false);
    });
    dlg.addEventListener('cancel', () => resolve(false));
    dlg.showModal();
  });
  dlg.remove();
  if (!answer) return undefined;
  const t = needToken ? token.value : storedToken();
  const results: string[] = [];
  for (const i of items)
    results.push(
      await postAction(
        action,
        {
          campaign,
          workflow: i.workflow,
          runs: i.runs,
          ...extra,
          ...(opts.reason ? { reason: reason.value } : {}),
        },
        t,
      ),
    );
  return results;
}
