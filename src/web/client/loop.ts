/// <reference lib="dom" />
/** A campaign's loop health on the dashboard: holder, last pass, oldest job in flight; STALE in red and words. */
import { shortAge as age } from '../../domain/loop-health.js';
import { h } from './dom.js';
import type { CampaignHealth } from './types.js';

export function loopLine(
  loop: CampaignHealth | undefined,
  now: number = Date.now(),
): HTMLElement | undefined {
  if (!loop) return undefined;
  const who = loop.holder ? `loop ${loop.loopLabel}` : 'no loop';
  const last = loop.lastPassEnd > 0 ? `last pass ${age(now - loop.lastPassEnd)} ago` : 'no pass recorded';
  const oldest =
    loop.oldestInFlightAt > 0
      ? `oldest job in flight ${age(now - loop.oldestInFlightAt)}`
      : 'no job in flight';
  const text = `${who} · ${last} · ${oldest}`;
  return loop.stale
    ? h('p', { class: 'loop stale', role: 'alert' }, h('strong', {}, 'STALE'), ` ${text} — ${loop.reason}`)
    : h('p', { class: 'loop muted' }, text);
}
