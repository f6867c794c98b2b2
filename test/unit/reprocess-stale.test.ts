/**
 * Outputs kept whole, provenance recorded by the planner, stale results (run and era workflows), the loop's marks
 * for `"on_input_change": "reprocess"`, and the pairs downstream of a reprocess (pure parts).
 */
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import { downstreamPairs } from '../../src/domain/dependents.js';
import type { JobRecord } from '../../src/domain/jobs.js';
import { checkOutput, decodeOutputList, encodeOutputList, outputLines } from '../../src/domain/outputs.js';
import { planPass } from '../../src/domain/planner.js';
import { decodeProvenance, encodeProvenance, provenanceKey } from '../../src/domain/provenance.js';
import { inputChangeMarks, staleResults } from '../../src/domain/stale.js';
import { StateTable } from '../../src/domain/state-table.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import type { RunStatus } from '../../src/domain/status.js';
import type { WorkflowSpec } from '../../src/domain/workflow.js';
import { UserError } from '../../src/errors.js';
import { decodeChunks, encodeChunks } from '../../src/store/snapshot.js';
import { makeRun, workflowSpec } from '../helpers/fixtures.js';

const wf = workflowSpec;

const campaign = (workflows: WorkflowSpec[]): Campaign => ({
  name: 'c',
  description: '',
  createdAt: 0,
  rtypes: [{ name: 'all', filter: {}, workflows: workflows.map((w) => w.name), suspended: [] }],
  workflows,
});

const st = (run: number, workflow: string, status: RunStatus, o: Partial<RunState> = {}): RunState => ({
  run,
  workflow,
  status,
  attempt: 1,
  tries: 1,
  outputs: [],
  reason: '',
  time: 1,
  ...o,
});

const table = (states: RunState[]): StateTable => StateTable.from(states);
const made = (unit: string, from: [string, number, number][]): string =>
  encodeProvenance({
    unit,
    from: from.map(([workflow, run, attempt]) => ({ workflow, run, attempt, outputs: [] })),
  });

describe('outputs', () => {
  it('are one per line: commas, spaces and quotes kept; CRLF and blank lines dropped', () => {
    expect(outputLines('/eos/run_900100,v2.root\r\n\n  \na b.root\n"q\'.root"')).toEqual([
      '/eos/run_900100,v2.root',
      'a b.root',
      `"q'.root"`,
    ]);
  });

  it('are stored as a JSON array; points of before (comma lists) still read', () => {
    const v = ['/eos/x,v2.root', 'a b', ''];
    expect(decodeOutputList(encodeOutputList(v), undefined)).toEqual(v);
    expect(decodeOutputList(undefined, '/a.root,/b.root')).toEqual(['/a.root', '/b.root']);
    expect(decodeOutputList(null, '')).toEqual([]);
    expect(decodeOutputList('{"x":1}', '')).toBeUndefined();
    expect(decodeOutputList('not json', '')).toBeUndefined();
  });

  it('given one by one must each be one non-blank line', () => {
    expect(checkOutput('a b,c', '--output')).toBe('a b,c');
    expect(() => checkOutput('a\nb', '--output')).toThrow(UserError);
    expect(() => checkOutput(' ', '--output')).toThrow(/must not be empty/);
  });

  it('and provenance survive a snapshot (schema 5) whole', () => {
    const inputsFrom = made('r1', [['A', 1, 2]]);
    const states = table([
      st(1, 'A', 'done', { outputs: ['/x,1.root', 'y z.root'] }),
      st(1, 'B', 'done', { outputs: ['b'], inputsFrom }),
    ]);
    const job: JobRecord = {
      campaign: 'c',
      workflow: 'A',
      name: 'rc.c.A.r1.a1',
      unit: 'r1',
      runs: [1],
      attempt: 1,
      status: 'done',
      backend: 'local',
      nativeId: '1',
      stdout: '',
      stderr: '',
      exitCodeFile: '',
      outputFile: '',
      exitCode: 0,
      outputs: ['/x,1.root', 'y z.root'],
      reason: '',
      submittedAt: 1,
      unknownSince: 0,
      heldSince: 0,
      time: 2,
    };
    const back = decodeChunks(
      encodeChunks({ states, registered: new Map(), jobs: new Map([[job.name, job]]) }),
    );
    expect(back.states.get(stateKey(1, 'A'))?.outputs).toEqual(['/x,1.root', 'y z.root']);
    expect(back.states.get(stateKey(1, 'B'))?.inputsFrom).toBe(inputsFrom);
    expect(back.jobs.get(job.name)?.outputs).toEqual(['/x,1.root', 'y z.root']);
  });
});

describe('provenance', () => {
  it('is recorded by the planner: the attempts and outputs of each parent pair, per run', () => {
    const c = campaign([wf('A'), wf('B', { dependsOn: ['A'] })]);
    const states = table([
      st(1, 'A', 'done', { attempt: 3, outputs: ['/a,1.root'] }),
      st(1, 'B', 'new', { attempt: 0, tries: 0 }),
    ]);
    const registered = new Map<number, RegisteredRun>([[1, { ...makeRun(1), rtypes: ['all'] }]]);
    const u = planPass(c, states, registered, new Map(), []).submit[0];
    expect(u?.inputs).toEqual({ A: ['/a,1.root'] });
    expect(u?.sources).toEqual([{ workflow: 'A', run: 1, attempt: 3, outputs: ['/a,1.root'] }]);
  });

  it('decodes what it encodes and refuses anything else without throwing', () => {
    const p = { unit: 'gE-1-2', from: [{ workflow: 'A', run: 1, attempt: 2, outputs: ['x'] }] };
    expect(decodeProvenance(encodeProvenance(p))).toEqual(p);
    for (const bad of ['', 'x', '{}', 'r1\t{"u":1,"f":[]}', 'r1\t{"u":"r1","f":[["A",1]]}', 'r1\t[]'])
      expect(decodeProvenance(bad)).toBeUndefined();
    // the key, read without the JSON, says the same parent pairs
    expect(provenanceKey(encodeProvenance(p))).toEqual({
      unit: 'gE-1-2',
      from: [{ workflow: 'A', run: 1, attempt: 2 }],
    });
    expect(provenanceKey(encodeProvenance({ unit: 'r9', from: [] }))).toEqual({ unit: 'r9', from: [] });
    for (const bad of ['', 'r1', 'r1 A:1\t', 'r1 A:x:2\t{}', 'r1 A:1:2x\t{}', 'r1 :1:2\t{}'])
      expect(provenanceKey(bad)).toBeUndefined();
  });
});

describe('stale results', () => {
  const AB = campaign([wf('A'), wf('B', { dependsOn: ['A'] })]);

  it('a done pair whose parent re-ran, is reprocessed, was reset or failed is stale; the others are not', () => {
    const states = table([
      st(1, 'A', 'done', { attempt: 2 }),
      st(1, 'B', 'done', { inputsFrom: made('r1', [['A', 1, 1]]) }),
      st(2, 'A', 'done', { attempt: 1 }),
      st(2, 'B', 'done', { inputsFrom: made('r2', [['A', 2, 1]]) }),
      st(3, 'A', 'reprocess', { attempt: 1 }),
      st(3, 'B', 'done', { inputsFrom: made('r3', [['A', 3, 1]]) }),
      st(4, 'A', 'new', { attempt: 1 }),
      st(4, 'B', 'done', { inputsFrom: made('r4', [['A', 4, 1]]) }),
      st(5, 'A', 'done', { attempt: 2 }),
      st(5, 'B', 'done'), // done before provenance was recorded: nothing says it is stale
      st(6, 'A', 'done', { attempt: 2 }),
      st(6, 'B', 'processing', { inputsFrom: made('r6', [['A', 6, 1]]) }),
    ]);
    const stale = staleResults(AB, states);
    expect([...stale.keys()].sort()).toEqual([1, 3, 4].map((r) => stateKey(r, 'B')).sort());
    expect(stale.get(stateKey(1, 'B'))?.text).toBe('A re-ran (attempt 2); this result used attempt 1');
    expect(stale.get(stateKey(3, 'B'))?.text).toMatch(/A is being reprocessed \(reprocess\)/);
    expect(stale.get(stateKey(4, 'B'))?.text).toMatch(/A was reset/);
  });

  it('of an era workflow: one member changed makes the whole unit stale, not other units', () => {
    const c = campaign([wf('A'), wf('E', { dependsOn: ['A'], granularity: { kind: 'era' } })]);
    const states = table([
      ...[1, 2, 3].map((r) => st(r, 'A', 'done', { attempt: r === 2 ? 2 : 1 })),
      ...[1, 2, 3].map((r) => st(r, 'E', 'done', { inputsFrom: made('gX-1-3', [['A', r, 1]]) })),
      st(4, 'A', 'done'),
      st(4, 'E', 'done', { inputsFrom: made('gY-4-4', [['A', 4, 1]]) }),
    ]);
    const stale = staleResults(c, states);
    expect([...stale.keys()].sort()).toEqual([1, 2, 3].map((r) => stateKey(r, 'E')).sort());
    expect(stale.get(stateKey(1, 'E'))?.text).toBe(
      'run 2 of unit gX-1-3: A re-ran (attempt 2); this result used attempt 1',
    );
  });
});

describe('on_input_change "reprocess": the marks of the loop', () => {
  it('marks stale pairs once their parents are done again, an era unit only whole; "mark" leaves them', () => {
    const c = campaign([
      wf('A'),
      wf('B', { dependsOn: ['A'], onInputChange: 'reprocess' }),
      wf('M', { dependsOn: ['A'] }),
      wf('E', { dependsOn: ['A'], granularity: { kind: 'era' }, onInputChange: 'reprocess' }),
    ]);
    const states = table([
      st(1, 'A', 'done', { attempt: 2 }),
      st(2, 'A', 'processing', { attempt: 2 }),
      ...[1, 2].flatMap((r) => [
        st(r, 'B', 'done', { inputsFrom: made(`r${r}`, [['A', r, 1]]) }),
        st(r, 'M', 'done', { inputsFrom: made(`r${r}`, [['A', r, 1]]) }),
        st(r, 'E', 'done', { inputsFrom: made('gX-1-2', [['A', r, 1]]) }),
      ]),
    ]);
    const active = new Set(['A', 'B', 'M', 'E']);
    const marks = inputChangeMarks(c, states, active);
    // B of run 1 (A done again); not run 2 (A in flight); never M; E waits for its whole era
    expect(marks.map((m) => `${m.workflow}${m.run}`)).toEqual(['B1']);
    expect(marks[0]).toMatchObject({ status: 'reprocess', attempt: 1, tries: 0 });
    expect(marks[0]?.reason).toMatch(/^inputs changed: A re-ran \(attempt 2\)/);
    states.set(stateKey(2, 'A'), st(2, 'A', 'done', { attempt: 2 }));
    const all = inputChangeMarks(c, states, active).map((m) => `${m.workflow}${m.run}`);
    expect(all.sort()).toEqual(['B1', 'B2', 'E1', 'E2']);
    expect(inputChangeMarks(c, states, new Set(['A', 'M']))).toEqual([]);
  });
});

describe('pairs downstream of a reprocess', () => {
  it('follows the graph transitively, for the same runs, widening era workflows to whole units', () => {
    const c = campaign([
      wf('A'),
      wf('B', { dependsOn: ['A'] }),
      wf('E', { dependsOn: ['B'], granularity: { kind: 'era' } }),
      wf('F', { dependsOn: ['E'] }),
      wf('Z'),
    ]);
    const states = table([1, 2, 3, 4].flatMap((r) => ['A', 'B', 'E', 'F', 'Z'].map((w) => st(r, w, 'done'))));
    const eraJob = (runs: number[]): JobRecord =>
      ({
        campaign: 'c',
        workflow: 'E',
        name: `rc.c.E.g-${runs[0]}.a1`,
        unit: `g-${runs[0]}`,
        runs,
        attempt: 1,
        status: 'done',
        time: 1,
      }) as JobRecord;
    const jobs = new Map([eraJob([1, 2, 3]), eraJob([4])].map((j) => [j.name, j]));
    const down = downstreamPairs(c, states, jobs, 'A', [2]);
    expect(down.map((d) => [d.workflow, d.states.map((s) => s.run)])).toEqual([
      ['B', [2]],
      ['E', [1, 2, 3]],
      ['F', [1, 2, 3]],
    ]);
  });
});
