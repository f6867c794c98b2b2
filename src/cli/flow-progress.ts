/**
 * The progress display of `automation --until-done`: on a terminal, one bar per campaign × workflow (done and
 * failed of total, with the pairs in flight); otherwise a plain line whenever the counts changed, at most every
 * few seconds, and the last one at the end.
 */
import cliProgress from 'cli-progress';
import type { PassReport } from '../automation/pass.js';
import type { Io } from './io.js';

interface Row {
  name: string;
  done: number;
  failed: number;
  inFlight: number;
  total: number;
}

export function progressRows(r: PassReport): Row[] {
  const rows: Row[] = [];
  for (const c of r.campaigns) {
    for (const [w, k] of Object.entries(c.counts ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const total = Object.values(k).reduce((n, v) => n + v, 0);
      rows.push({
        name: `${c.campaign}/${w}`,
        done: k.done ?? 0,
        failed: k.failed ?? 0,
        inFlight: k.processing ?? 0,
        total,
      });
    }
  }
  return rows;
}

export function progressLine(rows: Row[]): string {
  const parts = rows.map(
    (x) => `${x.name} ${x.done}/${x.total} done, ${x.failed} failed, ${x.inFlight} in flight`,
  );
  return `progress: ${parts.join('; ') || 'nothing to do'}`;
}

export interface FlowProgress {
  onPass: (r: PassReport) => void;
  stop: () => void;
}

function terminalProgress(): FlowProgress {
  const multi = new cliProgress.MultiBar(
    {
      format: '{name} [{bar}] {done}/{total} done, {failed} failed, {inFlight} in flight',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  return {
    onPass: (r) => {
      for (const row of progressRows(r)) {
        let bar = bars.get(row.name);
        if (!bar) bars.set(row.name, (bar = multi.create(row.total, 0, row)));
        bar.setTotal(row.total);
        bar.update(row.done + row.failed, row);
      }
    },
    stop: () => multi.stop(),
  };
}

function plainProgress(io: Io, everyMs: number): FlowProgress {
  let last = '';
  let shown = '';
  let at = 0;
  return {
    onPass: (r) => {
      last = progressLine(progressRows(r));
      if (last === shown || Date.now() - at < everyMs) return;
      io.err(last);
      shown = last;
      at = Date.now();
    },
    // stop may be called more than once (after the loop and again on the way out): the last line is printed once
    stop: () => {
      if (last !== '' && last !== shown) io.err(last);
      shown = last;
    },
  };
}

export function flowProgress(io: Io, everyMs = 2_000): FlowProgress {
  return io.isTTY ? terminalProgress() : plainProgress(io, everyMs);
}
