/**
 * A loop killed (SIGKILL, RUNCTRL_FAULT=snapshot-before-head) after writing a snapshot's chunks but before its
 * head: the partial generation is never taken for a whole one (the previous snapshot, or the full read, is used),
 * the next pass completes a snapshot, and the state read through it equals the full read throughout.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { freshDb } from '../helpers/influx.js';
import { expectFastEqualsFull as sameAsFull } from '../helpers/snapshot.js';
import {
  cli,
  loggingCommand,
  loopEnv,
  ok,
  untilSettled,
  writeCampaign,
  type LoopEnv,
} from '../helpers/loop.js';
import { Store } from '../../src/store/store.js';

const db = freshDb('snapcrash');
const store = new Store(db);
let e: LoopEnv;
const campaign = 'snapc';

const expectFastEqualsFull = (via: 'snapshot' | 'full'): Promise<void> => sameAsFull(store, campaign, via);

async function heads(): Promise<number> {
  const rows = await db.rows(`SELECT "gen" FROM "snapshot" WHERE "part" = 'head'`);
  return rows.length;
}

beforeAll(async () => {
  e = loopEnv(
    db.db,
    [390001, 390002, 390003].map((r) => makeRun(r)),
  );
  const file = writeCampaign(e, {
    campaign,
    rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
    workflows: { A: { command: loggingCommand('a') } },
  });
  await ok(e, ['apply', file]);
  await ok(e, ['inject', '--campaign', campaign, '--range', '390001,390003']);
});

describe('a loop killed while writing a snapshot', () => {
  it('leaves no head: the full read is used, and the next pass writes a whole snapshot', async () => {
    const args = ['automation', '--once', '--campaign', campaign];
    const killed = await cli(e, args, { RUNCTRL_FAULT: 'snapshot-before-head' });
    expect(killed.code, killed.stderr).not.toBe(0);
    const chunks = await db.rows(`SELECT "gen" FROM "snapshot" WHERE "part" = 'data'`);
    expect(chunks.length).toBeGreaterThan(0);
    expect(await heads()).toBe(0);
    await expectFastEqualsFull('full');

    const s = await untilSettled(e, campaign, { args: ['--campaign', campaign] });
    expect(s.totals.A).toMatchObject({ done: 3, failed: 0 });
    expect(await heads()).toBeGreaterThan(0);
    await expectFastEqualsFull('snapshot');
  });

  it('killed again after a stale head: the stale one is refused (full read) until a pass writes a new one', async () => {
    await ok(e, ['reset', '--campaign', campaign, '--workflow', 'A', '--runs', '390002']);
    // a head of another schema version, newest of all: refused, so the next pass reads in full and snapshots
    await db.write([
      `snapshot,campaign=${campaign},part=head gen="old",schema=0i,watermark=0i,first=0i,chunks=0i,sum="",states=0i,runs=0i,jobs=0i`,
    ]);
    await expectFastEqualsFull('full');
    const dry = await cli(e, ['automation', '--once', '--dry-run', '--campaign', campaign], {
      RUNCTRL_FAULT: 'snapshot-before-head',
    });
    expect(dry.code, 'a dry run writes no snapshot, so it never reaches the fault').toBe(0);
    const killed = await cli(e, ['automation', '--once', '--campaign', campaign], {
      RUNCTRL_FAULT: 'snapshot-before-head',
    });
    expect(killed.code).not.toBe(0);
    await expectFastEqualsFull('full');
    await untilSettled(e, campaign, { args: ['--campaign', campaign] });
    await expectFastEqualsFull('snapshot');
  });
});
