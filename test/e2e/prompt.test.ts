/** Prompt mode: the loop senses runs newer than the last registered one and registers them in active campaigns. */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { cli, loggingCommand, loopEnv, ok, statusOf, writeCampaign, type LoopEnv } from '../helpers/loop.js';

describe('prompt mode', () => {
  const db = freshDb('prompt');
  let e: LoopEnv;

  beforeAll(async () => {
    const runs = [
      makeRun(393001),
      makeRun(393002),
      makeRun(393003, { global: false }),
      makeRun(393004),
      makeRun(393005, { endTime: null }),
    ];
    e = loopEnv(db.db, runs);
    const spec = {
      rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
      workflows: { A: { command: loggingCommand('a') } },
    };
    await ok(e, ['apply', writeCampaign(e, { campaign: 'prompt', ...spec }, 'p.json')]);
    await ok(e, ['apply', writeCampaign(e, { campaign: 'parked', ...spec }, 'q.json')]);
    await ok(e, ['deactivate', '--campaign', 'parked']);
  });

  it('refuses to sense a fresh database without a starting point', async () => {
    const r = await cli(e, ['automation', '--once', '--prompt']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--start-run RUN or --block START,END/);
  });

  it('with --block senses only the block', async () => {
    const r = await cli(e, ['automation', '--once', '--prompt', '--block', '393001,393001', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { sensed: number }).sensed).toBe(1);
    const s = await statusOf(e, 'prompt');
    expect(s.rows.map((x) => x.run)).toEqual([393001]);
  });

  it('then senses runs after the last registered one, skipping the ongoing run, in active campaigns only', async () => {
    const r = await cli(e, ['automation', '--once', '--prompt', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { sensed: number }).sensed).toBe(3);
    const s = await statusOf(e, 'prompt');
    expect(s.rows.map((x) => x.run)).toEqual([393001, 393002, 393003, 393004]);
    // the local run 393003 is registered but matches no run type, so it has no workflow status
    expect(s.rows.find((x) => x.run === 393003)?.status.A ?? null).toBeNull();
    expect((await statusOf(e, 'parked')).rows).toEqual([]);
    const again = await cli(e, ['automation', '--once', '--prompt', '--json']);
    expect((JSON.parse(again.stdout) as { sensed: number }).sensed).toBe(0);
  });
});
