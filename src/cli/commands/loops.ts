import { parseDuration } from '../../domain/duration.js';
import { shortAge } from '../../domain/loop-health.js';
import { contextFrom } from '../context.js';
import { defineCommand, jsonOption } from '../define.js';
import { red } from '../health-format.js';
import { json, table } from '../io.js';

export const loopsCommand = defineCommand({
  command: 'loops',
  describe: 'automation loops and their health: live, stale or stopped, and the campaigns each holds',
  builder: (y) =>
    jsonOption(y)
      .option('since', {
        type: 'string',
        default: '7d',
        describe: 'list loops whose last pass ended within this time',
      })
      .example('$0 --db ecal_prompt_v1 loops', 'which loop holds which campaign, and when it last passed'),
  handler: async (a, io) => {
    const sinceMs = parseDuration(a.since, '--since');
    const { ctx } = await contextFrom(a, io);
    const r = await (await import('../../core/loops.js')).listLoops(ctx, { sinceMs });
    if (a.json) return io.out(json(r));
    if (r.loops.length === 0 && r.heldWithoutHeartbeat.length === 0)
      return io.out(`no loop wrote a heartbeat to database '${ctx.store.db}' in the last ${a.since}`);
    io.out(
      table(
        ['loop', 'status', 'mode', 'holds', 'last pass', 'outcome', 'interval', 'version', 'skipped'],
        r.loops.map((l) => [
          `${l.host}:${l.pid}`,
          l.status === 'stale'
            ? red(io, `STALE (${shortAge(l.sinceLastPassMs)} since its last pass)`)
            : l.status,
          l.mode,
          l.holds.join(' ') || '-',
          `${shortAge(l.sinceLastPassMs)} ago (${shortAge(l.lastPassEnd - l.lastPassStart)})`,
          l.outcome === 'error' ? `error: ${l.error}` : l.outcome,
          shortAge(l.intervalMs),
          l.version,
          l.skipped.join(' ') || '-',
        ]),
      ),
    );
    for (const h of r.heldWithoutHeartbeat)
      io.out(`campaign ${h.campaign} is held by ${h.holder}, which writes no heartbeat (an older runctrl)`);
  },
});
