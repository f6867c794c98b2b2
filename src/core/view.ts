/** Small reads of the dashboard's operator view: one pair for a grid cell's hover; a run that must exist. */
import type { Campaign } from '../domain/campaign.js';
import { blockedPairs, displayStatus, type DisplayStatus } from '../domain/blocked.js';
import type { LockRecord } from '../domain/jobs.js';
import { stateKey } from '../domain/state.js';
import { forEachStatus } from '../domain/state-table.js';
import { NotFoundError } from '../errors.js';
import type { CampaignState } from './dashboard.js';

export interface PairInfo {
  run: number;
  workflow: string;
  status: DisplayStatus | null;
  attempt: number;
  tries: number;
  /** Unix ms of the last change (0 when none). */
  time: number;
  /** The first line of the reason (the blocked cause for a blocked pair). */
  reason: string;
}

export function pairInfo(
  c: Campaign,
  st: CampaignState,
  locks: readonly LockRecord[],
  run: number,
  workflow: string,
): PairInfo {
  const k = stateKey(run, workflow);
  const s = st.states.get(k);
  if (!s) return { run, workflow, status: null, attempt: 0, tries: 0, time: 0, reason: '' };
  const blocked = blockedPairs({ campaign: c, ...st, locks }).get(k);
  const shown = displayStatus(new Map(blocked ? [[k, blocked]] : []), k, s.status);
  const reason = shown === 'blocked' ? (blocked?.text ?? '') : s.reason;
  return {
    run,
    workflow,
    status: shown,
    attempt: s.attempt,
    tries: s.tries,
    time: s.time,
    reason: (reason.split('\n')[0] ?? '').slice(0, 300),
  };
}

/** A run neither registered nor with any status is not in the campaign. */
export function checkRun(c: Campaign, st: CampaignState, run: number): void {
  if (st.registered.has(run)) return;
  let seen = false;
  forEachStatus(st.states, (_w, r) => (seen ||= r === run));
  if (!seen) throw new NotFoundError(`run ${run} is not in campaign '${c.name}'`);
}
