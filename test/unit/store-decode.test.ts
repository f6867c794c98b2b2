/**
 * Property tests of every decoder of a stored value (docs/malformed-points.md): given any row — valid points
 * with one field replaced by a random value of another type, an unknown enum, a missing field, a huge string,
 * control characters, NaN or Infinity — a decoder returns a well-typed value or the one Malformed outcome and
 * never throws; valid points round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JobRecord, LeasePoint, LockRecord } from '../../src/domain/jobs.js';
import type { RegisteredRun, RunState } from '../../src/domain/state.js';
import { FAILURE_CLASSES } from '../../src/domain/retry.js';
import { JOB_STATUSES, RUN_STATUSES } from '../../src/domain/status.js';
import { decodeJobEnd, jobEndPoint } from '../../src/store/jobend.js';
import type { FieldValue, PointSpec } from '../../src/store/lineproto.js';
import { isMalformed, Malformed, type Row } from '../../src/store/malformed.js';
import {
  campaignPoint,
  decodeCampaign,
  decodeJob,
  decodeLease,
  decodeLock,
  decodeRtype,
  decodeRunInfo,
  decodeRunState,
  decodeWorkflow,
  jobPoint,
  leasePoint,
  lockPoint,
  rtypePoint,
  runInfoPoint,
  runStatePoint,
  workflowPoint,
} from '../../src/store/schema.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';
import { decodeSnapshotHead, headPoint, type SnapshotHead } from '../../src/store/snapshot.js';

const RUNS = { numRuns: 300 };

/** A point as InfluxDB answers it (integers and floats as numbers, tags as columns, time in Unix ms). */
function rowOf(p: PointSpec, time: number): Row {
  const r: Row = { ...p.tags, time };
  for (const [k, v] of Object.entries(p.fields)) {
    if (v === undefined) continue;
    const x: FieldValue = v;
    r[k] = typeof x === 'object' ? x.int : x;
  }
  return r;
}

const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/);
const text = fc.string({ maxLength: 40 });
const item = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes(','));
const nat = fc.integer({ min: 0, max: 2 ** 40 });
const time = fc.integer({ min: 1, max: 4e12 });

/** Any value a stored field may hold (or a test may forge): every type, huge and hostile strings, NaN, ±Infinity. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -1, 2 ** 60, 1.5),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('', '\u001b[31m', '\u202e', '{', '[]', 'null', '{"a":1}', ',', '1,x', 'x'.repeat(70_000)),
  fc.constantFrom(...RUN_STATUSES, ...JOB_STATUSES, 'blocked', '<img>'),
);

/** The row with some of its keys replaced by hostile values (or removed). */
function mangled(row: Row): fc.Arbitrary<Row> {
  const keys = Object.keys(row);
  return fc
    .uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: Math.min(3, keys.length) })
    .chain((ks) =>
      fc.tuple(fc.constant(ks), fc.array(hostile, { minLength: ks.length, maxLength: ks.length })),
    )
    .map(([ks, vs]) => {
      const r: Record<string, unknown> = { ...row };
      ks.forEach((k, i) => {
        if (vs[i] === undefined) delete r[k];
        else r[k] = vs[i];
      });
      return r as Row;
    });
}

interface Case<T> {
  name: string;
  valid: fc.Arbitrary<{ value: T; row: Row }>;
  decode: (r: Row) => T | Malformed;
  /** What any decoded value must satisfy (types the rest of runctrl relies on). */
  wellTyped: (v: T) => boolean;
}

const safe = (n: unknown): boolean => Number.isSafeInteger(n);
const fin = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n);
const strs = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');

const runState: fc.Arbitrary<RunState> = fc.record({
  run: nat,
  workflow: name,
  status: fc.constantFrom(...RUN_STATUSES),
  attempt: nat,
  tries: nat,
  outputs: fc.array(item, { maxLength: 3 }),
  reason: text,
  time,
});

const job: fc.Arbitrary<JobRecord> = fc
  .tuple(
    fc.constantFrom(...FAILURE_CLASSES),
    fc.record({
      campaign: name,
      workflow: name,
      name,
      unit: text,
      runs: fc.array(fc.integer({ min: 0, max: 1e9 }), { minLength: 1, maxLength: 4 }),
      attempt: nat,
      status: fc.constantFrom(...JOB_STATUSES),
      backend: text,
      nativeId: text,
      stdout: text,
      stderr: text,
      exitCodeFile: text,
      outputFile: text,
      exitCode: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }),
      outputs: fc.array(item, { maxLength: 3 }),
      reason: text,
      submittedAt: nat,
      unknownSince: nat,
      heldSince: nat,
      time,
    }),
  )
  // a failed job has a failure class (one read without is of class unknown)
  .map(([failureClass, j]) => (j.status === 'failed' ? { ...j, failureClass } : j));

const registered: fc.Arbitrary<RegisteredRun> = fc.record({
  run: nat,
  fill: nat,
  era: text,
  startTime: nat,
  endTime: fc.option(fc.integer({ min: 1, max: 4e12 }), { nil: null }),
  global: fc.boolean(),
  stableBeams: fc.boolean(),
  runClass: text,
  deliveredLumi: fc.double({ noNaN: true, noDefaultInfinity: true }),
  recordedLumi: fc.double({ noNaN: true, noDefaultInfinity: true }),
  beamEnergy: fc.double({ noNaN: true, noDefaultInfinity: true }),
  magnetCurrent: fc.double({ noNaN: true, noDefaultInfinity: true }),
  quality: fc.dictionary(name, fc.boolean(), { maxKeys: 3 }),
  rtypes: fc.array(item, { maxLength: 3 }),
});

const cases: Case<unknown>[] = [
  {
    name: 'run (run × workflow status)',
    valid: fc.tuple(name, runState).map(([c, s]) => ({ value: s, row: rowOf(runStatePoint(c, s), s.time) })),
    decode: decodeRunState,
    wellTyped: (v) => {
      const s = v as RunState;
      return (
        safe(s.run) && s.run >= 0 && RUN_STATUSES.includes(s.status) && safe(s.attempt) && strs(s.outputs)
      );
    },
  },
  {
    name: 'job',
    valid: job.map((j) => ({ value: j, row: rowOf(jobPoint(j), j.time) })),
    decode: decodeJob,
    wellTyped: (v) => {
      const j = v as JobRecord;
      return (
        JOB_STATUSES.includes(j.status) && j.runs.every(safe) && typeof j.name === 'string' && fin(j.time)
      );
    },
  },
  {
    name: 'runinfo',
    valid: fc.tuple(name, registered).map(([c, r]) => ({
      value: r,
      row: rowOf(runInfoPoint(c, r, r.rtypes), 1),
    })),
    decode: decodeRunInfo,
    wellTyped: (v) => {
      const r = v as RegisteredRun;
      return safe(r.run) && fin(r.deliveredLumi) && fin(r.beamEnergy) && typeof r.quality === 'object';
    },
  },
  {
    name: 'lock',
    valid: fc
      .record({
        campaign: name,
        workflow: name,
        fromRun: nat,
        reason: text,
        locked: fc.boolean(),
        by: text,
        time,
      })
      .map((l: LockRecord) => ({ value: l, row: rowOf(lockPoint(l), l.time) })),
    decode: decodeLock,
    wellTyped: (v) => safe((v as LockRecord).fromRun) && typeof (v as LockRecord).locked === 'boolean',
  },
  {
    name: 'lease',
    valid: fc
      .tuple(name, fc.record({ owner: name, expires: nat, time }))
      .map(([scope, l]: [string, LeasePoint]) => ({
        value: l,
        row: rowOf(leasePoint(scope, l.owner, l.expires), l.time),
      })),
    decode: decodeLease,
    wellTyped: (v) => safe((v as LeasePoint).expires) && fin((v as LeasePoint).time),
  },
  {
    name: 'campaign',
    valid: fc
      .tuple(name, text, nat, fc.boolean(), fc.integer({ min: -100, max: 100 }))
      .map(([n, d, at, del, pr]) => ({
        value: { name: n, description: d, createdAt: at, deleted: del, priority: pr },
        row: rowOf(campaignPoint(n, d, at, del, pr), 1),
      })),
    decode: decodeCampaign,
    wellTyped: (v) => safe((v as { createdAt: number }).createdAt),
  },
  {
    name: 'rtype',
    valid: fc
      .tuple(name, name, fc.array(item, { maxLength: 3 }), fc.array(item, { maxLength: 3 }), fc.boolean())
      .map(([c, t, w, s, del]) => ({
        value: { campaign: c, name: t, filter: { global: true }, workflows: w, suspended: s, deleted: del },
        row: rowOf(rtypePoint(c, t, { global: true }, w, s, del), 1),
      })),
    decode: decodeRtype,
    wellTyped: (v) => strs((v as { workflows: unknown }).workflows),
  },
  {
    name: 'workflow',
    valid: fc.tuple(name, name, text, fc.boolean()).map(([c, w, command, del]) => {
      const spec = { name: w, command } as unknown as WorkflowSpec;
      return { value: { campaign: c, spec, deleted: del }, row: rowOf(workflowPoint(c, spec, del), 1) };
    }),
    decode: decodeWorkflow,
    wellTyped: (v) => typeof (v as { spec: { name: unknown } }).spec.name === 'string',
  },
  {
    name: 'snapshot head',
    valid: fc
      .record({
        gen: name,
        schema: fc.nat(9),
        watermark: time,
        first: time,
        chunks: fc.nat(99),
        sum: fc.stringMatching(/^[0-9a-f]{64}$/),
        states: nat,
        runs: nat,
        jobs: nat,
      })
      .chain((h) => fc.tuple(fc.constant(h), name, time))
      .map(([h, c, t]) => ({ value: { ...h, time: t }, row: rowOf(headPoint(c, h), t) })),
    decode: decodeSnapshotHead,
    wellTyped: (v) => {
      const h = v as SnapshotHead;
      return safe(h.chunks) && h.chunks >= 0 && typeof h.gen === 'string' && safe(h.states) && fin(h.time);
    },
  },
  {
    name: 'jobend',
    valid: fc.tuple(name, name, name, fc.integer({ min: -1, max: 255 }), time).map(([c, w, j, ec, t]) => ({
      value: { job: j, exitCode: ec, time: t },
      row: rowOf(jobEndPoint(c, w, j, ec, 0), t),
    })),
    decode: decodeJobEnd,
    wellTyped: (v) => safe((v as { exitCode: number }).exitCode),
  },
];

describe.each(cases)('the $name decoder', (c) => {
  it('round-trips every valid point', () => {
    fc.assert(
      fc.property(c.valid, ({ value, row }) => {
        expect(c.decode(row)).toEqual(value);
      }),
      RUNS,
    );
  });

  it('never throws on a mangled point: a well-typed value or Malformed', () => {
    fc.assert(
      fc.property(
        c.valid.chain(({ row }) => mangled(row)),
        (row) => {
          const v = c.decode(row);
          if (!isMalformed(v)) expect(c.wellTyped(v)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('never throws on a row of random columns', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), hostile), (r) => {
        const v = c.decode(r as Row);
        if (!isMalformed(v)) expect(c.wellTyped(v)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('specific malformed points', () => {
  it('an unknown run status, a wrong type, a missing run and a non-one-hot job are Malformed', () => {
    const base = { workflow: 'wf', run: 900103, time: 1 };
    expect(decodeRunState({ ...base, status: '<img>' })).toBeInstanceOf(Malformed);
    expect(decodeRunState({ ...base, status: 'done', attempt: 'x' })).toBeInstanceOf(Malformed);
    expect(decodeRunState({ workflow: 'wf', status: 'done', time: 1 })).toBeInstanceOf(Malformed);
    expect(decodeRunState({ ...base, run: 1.5, status: 'done' })).toBeInstanceOf(Malformed);
    expect(decodeJob({ campaign: 'c', workflow: 'w', job: 'j', idle: true, running: true })).toBeInstanceOf(
      Malformed,
    );
    expect(decodeRunInfo({ run: 1, quality: '{' })).toBeInstanceOf(Malformed);
    expect(decodeRtype({ campaign: 'c', rtype: 't', filter: '{"nonsense":1}' })).toBeInstanceOf(Malformed);
  });
});
