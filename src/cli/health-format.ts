/** How loop health reads in tables (`list`, `status`, `loops`): stale is a word and a time, red on a terminal. */
import { shortAge, type CampaignHealth } from '../domain/loop-health.js';
import type { Io } from './io.js';

export function red(io: Io, text: string): string {
  return io.isTTY && !io.env.NO_COLOR ? `\u001b[31m${text}\u001b[39m` : text;
}

/** `12s ago`, or `STALE 5m ago` (red). */
export function lastPassCell(io: Io, h: CampaignHealth | undefined): string {
  if (!h) return '-';
  const ago = h.sinceLastPassMs === null ? 'no pass' : `${shortAge(h.sinceLastPassMs)} ago`;
  if (h.stale) return red(io, `STALE ${ago}`);
  return h.sinceLastPassMs === null ? '-' : ago;
}

export function loopCell(h: CampaignHealth | undefined): string {
  return h?.holder ? h.loopLabel : h?.loopLabel ? `none (last ${h.loopLabel})` : 'none';
}

export function oldestCell(h: CampaignHealth | undefined): string {
  return h?.oldestInFlightAgeMs == null ? '-' : shortAge(h.oldestInFlightAgeMs);
}

/** The loop line of `status`: holder, last pass and oldest job in flight, or STALE and why (red). */
export function statusLoopLine(
  io: Io,
  h: Pick<CampaignHealth, 'holder' | 'loopLabel' | 'lastPassEnd' | 'oldestInFlightAt' | 'stale' | 'reason'>,
  now: number = Date.now(),
): string {
  const who = h.holder ? `held by loop ${h.loopLabel}` : 'held by no loop';
  const last = h.lastPassEnd > 0 ? `last pass ${shortAge(now - h.lastPassEnd)} ago` : 'no pass recorded';
  const oldest =
    h.oldestInFlightAt > 0
      ? `oldest job in flight ${shortAge(now - h.oldestInFlightAt)}`
      : 'no job in flight';
  const line = `loop: ${who}, ${last}, ${oldest}`;
  return h.stale ? red(io, `STALE ${line} (${h.reason})`) : line;
}

/** One line under a table for a stale campaign: what is wrong. */
export function staleLine(io: Io, campaign: string, h: CampaignHealth | undefined): string | undefined {
  return h?.stale ? red(io, `STALE campaign ${campaign}: ${h.reason}`) : undefined;
}
