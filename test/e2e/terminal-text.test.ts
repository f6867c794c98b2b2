/**
 * Stored text reaches the terminal escaped (docs/malformed-points.md, "Stored text on a terminal"): a lock whose
 * reason holds an ANSI escape and a bidi override is listed by `runctrl locks` (table and --json) with both
 * shown as \u escapes, never raw; the JSON still parses to the stored reason.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDb } from '../helpers/influx.js';
import { loopEnv, ok, writeCampaign, type LoopEnv } from '../helpers/loop.js';

const client = freshDb('text');
let e: LoopEnv;
const REASON = 'pedestals \u001b[31mRED\u001b[0m \u202edecnalab\u202c\nFAILED forged line';
// eslint-disable-next-line no-control-regex
const RAW = /[\u001b\u202e\u202c]/;

beforeAll(async () => {
  e = loopEnv(client.db);
  const file = writeCampaign(e, {
    campaign: 'c1',
    rtypes: { all: { filter: { global: true }, workflows: ['wf'] } },
    workflows: { wf: { command: 'true' } },
  });
  await ok(e, ['apply', file]);
  await ok(e, ['lock', '--campaign', 'c1', '--workflow', 'wf', '--from-run', '1', '--reason', REASON]);
}, 60_000);

describe('stored text on a terminal', () => {
  it('runctrl locks shows control and bidi characters escaped', async () => {
    const t = (await ok(e, ['locks'])).stdout;
    expect(RAW.test(t)).toBe(false);
    expect(t).toContain('pedestals \\u001b[31mRED\\u001b[0m \\u202edecnalab\\u202c\\nFAILED forged line');
    expect(t.split('\n').some((l) => l.startsWith('FAILED'))).toBe(false);
  });

  it('locks --json escapes them too and parses back to the stored reason', async () => {
    const j = (await ok(e, ['locks', '--json'])).stdout;
    expect(RAW.test(j)).toBe(false);
    const locks = JSON.parse(j) as { reason: string }[];
    expect(locks[0]?.reason.startsWith(REASON)).toBe(true);
  });
});
