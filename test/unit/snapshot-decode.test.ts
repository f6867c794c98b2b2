/**
 * Property tests of the snapshot decoders (docs/malformed-points.md): a campaign state round-trips through its
 * chunks, and chunks of any content (random text, random JSON deflated as a chunk is) make decodeChunks and
 * decodeStatuses report a corrupt snapshot (undefined through decodeSafely: the reader falls back to the full
 * read), never throw anything else.
 */
import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/domain/jobs.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import { FAILURE_CLASSES } from '../../src/domain/retry.js';
import { JOB_STATUSES, RUN_STATUSES } from '../../src/domain/status.js';
import {
  decodeChunks,
  decodeSafely,
  decodeStatuses,
  encodeChunks,
  type CampaignState,
} from '../../src/store/snapshot.js';

const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/);
const item = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes(','));

const state: fc.Arbitrary<CampaignState> = fc
  .record({
    pairs: fc.uniqueArray(
      fc.record({
        run: fc.integer({ min: 0, max: 1e7 }),
        workflow: fc.constantFrom('a', 'b', 'wf'),
        status: fc.constantFrom(...RUN_STATUSES),
        attempt: fc.nat(99),
        tries: fc.nat(9),
        outputs: fc.array(item, { maxLength: 2 }),
        reason: fc.string({ maxLength: 20 }),
        time: fc.integer({ min: 1, max: 4e12 }),
      }),
      { selector: (s) => stateKey(s.run, s.workflow), maxLength: 30 },
    ),
    jobs: fc.uniqueArray(
      fc.record({
        name,
        status: fc.constantFrom(...JOB_STATUSES),
        runs: fc.array(fc.nat(1e7), { minLength: 1, maxLength: 3 }),
        exitCode: fc.option(fc.nat(255), { nil: null }),
        failureClass: fc.constantFrom(...FAILURE_CLASSES),
      }),
      { selector: (j) => j.name, maxLength: 5 },
    ),
  })
  .map(({ pairs, jobs }) => {
    const registered = new Map<number, RegisteredRun>();
    for (const p of pairs)
      registered.set(p.run, {
        run: p.run,
        fill: 1,
        era: 'E',
        startTime: 1,
        endTime: null,
        global: true,
        stableBeams: false,
        runClass: 'c',
        deliveredLumi: 0,
        recordedLumi: 0,
        beamEnergy: 0,
        magnetCurrent: 0,
        quality: {},
        rtypes: [],
      });
    const js = new Map<string, JobRecord>();
    for (const { failureClass, ...j } of jobs)
      js.set(j.name, {
        ...j,
        // a failed job has a failure class (one read without is of class unknown)
        ...(j.status === 'failed' ? { failureClass } : {}),
        campaign: 'c',
        workflow: 'wf',
        unit: 'r1',
        attempt: 1,
        backend: 'local',
        nativeId: '',
        stdout: '',
        stderr: '',
        exitCodeFile: '',
        outputFile: '',
        outputs: [],
        reason: '',
        submittedAt: 0,
        unknownSince: 0,
        heldSince: 0,
        time: 1,
      });
    return {
      states: new Map(pairs.map((p: RunState) => [stateKey(p.run, p.workflow), p])),
      registered,
      jobs: js,
    };
  });

const deflated = (v: unknown): string => deflateRawSync(JSON.stringify(v)).toString('base64');
/** A chunk of any content: random text, or random JSON in a chunk's own encoding, of any kind. */
const chunk: fc.Arbitrary<string> = fc.oneof(
  fc.string(),
  fc
    .tuple(fc.constantFrom('s', 'r', 'j', 'x'), fc.jsonValue(), fc.jsonValue())
    .map(([k, a, b]) => (k === 'j' ? k + deflated(a) : `${k}${deflated(a)}.${deflated(b)}`)),
  fc
    .tuple(
      fc.constantFrom('a', 'wf'),
      fc.array(fc.oneof(fc.integer(), fc.double(), fc.string())),
      fc.string(),
    )
    .map(([w, runs, st]) => `s${deflated({ k: 's', w, runs, st })}.${deflated([])}`),
  fc.array(fc.jsonValue(), { maxLength: 3 }).map((v) => `j${deflated({ k: 'j', v: [v] })}`),
);

const byKey = <T>(m: ReadonlyMap<unknown, T>): T[] => [...m.values()];

describe('snapshot chunks', () => {
  it('round-trip a campaign state', () => {
    fc.assert(
      fc.property(state, (st) => {
        const back = decodeChunks(encodeChunks(st));
        const sort = (a: RunState, b: RunState): number =>
          stateKey(a.run, a.workflow).localeCompare(stateKey(b.run, b.workflow));
        expect(byKey(back.states).sort(sort)).toEqual(byKey(st.states).sort(sort));
        expect(new Map(back.registered)).toEqual(st.registered);
        expect(back.jobs).toEqual(st.jobs);
      }),
      { numRuns: 100 },
    );
  });

  it('of any content are refused as corrupt, never thrown', () => {
    fc.assert(
      fc.property(state, fc.array(chunk, { minLength: 1, maxLength: 3 }), fc.nat(), (st, bad, at) => {
        const chunks = encodeChunks(st);
        chunks.splice(at % (chunks.length + 1), 0, ...bad);
        decodeSafely(() => decodeStatuses(chunks));
        const s = decodeSafely(() => decodeChunks(chunks));
        // what did decode is whole: reading every pair (its lazily decoded columns) is refused the same way
        if (s) decodeSafely(() => [...s.states.values(), ...s.registered.values()]);
      }),
      { numRuns: 300 },
    );
  });
});
