/** A workflow whose handler is a module: it selects the units, gives their commands and decides the outputs. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loopEnv, ok, statusOf, untilSettled, writeCampaign, type LoopEnv } from '../helpers/loop.js';

describe('workflow handler modules', () => {
  const db = freshDb('handler');
  let e: LoopEnv;

  beforeAll(async () => {
    e = loopEnv(
      db.db,
      [394001, 394002, 394003, 394004].map((r) => makeRun(r)),
    );
    // only even runs are ever selected; the command and the outputs come from the module
    writeFileSync(
      path.join(e.dir, 'even.mjs'),
      `export default {
  select: (units) => units.filter((u) => u.runs[0] % 2 === 0),
  command: (u) => 'echo "' + u.campaign + ' ' + u.workflow + ' ' + u.runs.join(',') + ' ' + u.attempt + '" >> "$RUNCTRL_EXEC_LOG"',
  outputs: (u) => ['/store/even/' + u.runs[0] + '.root', ...u.reported],
};
`,
    );
    const file = writeCampaign(e, {
      campaign: 'h',
      rtypes: { all: { filter: { global: true }, workflows: ['even'] } },
      workflows: { even: { handler: './even.mjs' } },
    });
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'h', '--range', '394001,394004']);
  });

  it('runs the units the handler selects and records the outputs it decides', async () => {
    await untilSettled(e, 'h', { settled: (s) => s.totals.even?.done === 2 });
    const s = await statusOf(e, 'h');
    expect(s.totals.even).toMatchObject({ done: 2, new: 2 });
    const out = JSON.parse(
      (
        await ok(e, [
          'outputs',
          '--campaign',
          'h',
          '--workflow',
          'even',
          '--range',
          '394001,394004',
          '--json',
        ])
      ).stdout,
    ) as {
      runs: { run: number; outputs: string[] }[];
    };
    expect(out.runs.filter((r) => r.outputs.length).map((r) => [r.run, r.outputs])).toEqual([
      [394002, ['/store/even/394002.root']],
      [394004, ['/store/even/394004.root']],
    ]);
  });

  it('reports a handler module that cannot be loaded as a problem of the pass', async () => {
    writeFileSync(path.join(e.dir, 'even.mjs'), 'export default { nothing: true };\n');
    const file = writeCampaign(
      e,
      {
        campaign: 'h2',
        rtypes: { all: { filter: { global: true }, workflows: ['broken'] } },
        workflows: { broken: { handler: './broken.mjs' } },
      },
      'h2.json',
    );
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', 'h2', '--runs', '394001']);
    const r = await cli(e, ['automation', '--once', '--campaign', 'h2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/problem: cannot load the handler module of workflow 'broken'/);
  });
});
