/**
 * Reprocessing that keeps results consistent, end to end on the local backend: outputs holding commas and spaces
 * reach dependents whole, with their provenance; a parent reprocessed under a running daemon leaves its
 * dependents stale (status, why, grid) until `reprocess --with-dependents` re-runs the chain in order; workflows
 * with `"on_input_change": "reprocess"` follow by themselves, also when the loop is killed between the marks and
 * the re-runs.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDb } from '../helpers/influx.js';
import {
  cli,
  daemonWithDashboard,
  loggingCommand,
  loopEnv,
  ok,
  untilSettled,
  writeCampaign,
  type LoopEnv,
} from '../helpers/loop.js';

interface JobJson {
  workflow: string;
  runs: number[];
  attempt: number;
  status: string;
  submittedAt: number;
  time: number;
}
interface Status {
  totals: Record<string, Record<string, number>>;
  stale: Record<string, number>;
  rows: { run: number; stale?: string[] }[];
}
interface Source {
  workflow: string;
  run: number;
  attempt: number;
  outputs: string[];
}

const C_RUNS = 12; // Run2024C of twentyRuns(); Run2024D has 8
const status = async (e: LoopEnv, c: string): Promise<Status> =>
  JSON.parse((await ok(e, ['status', '-c', c, '--json'])).stdout) as Status;
const jobs = async (e: LoopEnv, c: string): Promise<JobJson[]> =>
  JSON.parse((await ok(e, ['jobs', '-c', c, '--json'])).stdout) as JobJson[];
const settled = (s: { totals: Record<string, Record<string, number>> }): boolean =>
  Object.values(s.totals).every((t) => (t.new ?? 0) + (t.processing ?? 0) + (t.reprocess ?? 0) === 0);

/** Executions of a campaign's workflow, as `runs attempt`, from the execution log. */
function executions(e: LoopEnv, campaign: string, workflow: string): string[] {
  return readFileSync(e.execLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${campaign} ${workflow} `))
    .map((l) => l.split(' ').slice(2).join(' '));
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, tries = 300): Promise<T> {
  let v = await get();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 200));
    v = await get();
  }
  if (!ok(v)) throw new Error(`${what}: not reached (${JSON.stringify(v).slice(0, 400)})`);
  return v;
}

describe('reprocessing with dependents, stale results and provenance (local backend)', () => {
  const db = freshDb('reproc');
  let e: LoopEnv;
  beforeAll(() => {
    e = loopEnv(db.db);
  });

  async function setUp(campaign: string, workflows: object, range = '386001,386108'): Promise<void> {
    const file = writeCampaign(
      e,
      {
        campaign,
        rtypes: { all: { filter: { global: true }, workflows: Object.keys(workflows) } },
        workflows,
      },
      `${campaign}.json`,
    );
    await ok(e, ['apply', file]);
    await ok(e, ['inject', '--campaign', campaign, '--range', range]);
  }

  it('outputs with commas and spaces reach the dependent whole, and it knows what it was made from', async () => {
    const c = 'outs';
    await setUp(
      c,
      {
        a: {
          command: `printf '%s\\n' "$RUNCTRL_OUTDIR/run_{run},v2.root" "$RUNCTRL_OUTDIR/a b.root" >> "$RUNCTRL_OUTPUT_FILE"`,
        },
        b: {
          command: `mkdir -p {outdir} && printf '%s\\n' {inputs} > {outdir}/got.txt && echo {outdir}/got.txt >> "$RUNCTRL_OUTPUT_FILE"`,
          depends_on: ['a'],
        },
      },
      '386001,386002',
    );
    await untilSettled(e, c, { args: ['--campaign', c] });
    const out = JSON.parse(
      (await ok(e, ['outputs', '-c', c, '-w', 'a', '--runs', '386001', '--json'])).stdout,
    ) as {
      runs: { outputs: string[] }[];
    };
    const given = out.runs[0]?.outputs ?? [];
    expect(given).toHaveLength(2);
    expect(given[0]).toMatch(/\/run_386001,v2\.root$/);
    expect(given[1]).toMatch(/\/a b\.root$/);
    const b = JSON.parse(
      (await ok(e, ['outputs', '-c', c, '-w', 'b', '--runs', '386001', '--json'])).stdout,
    ) as {
      runs: { outputs: string[]; madeFrom?: { unit: string; from: Source[] } }[];
    };
    const got = readFileSync(b.runs[0]?.outputs[0] ?? '', 'utf8');
    expect(got).toBe(`${given.join('\n')}\n`);
    expect(b.runs[0]?.madeFrom).toEqual({
      unit: 'r386001',
      from: [{ workflow: 'a', run: 386001, attempt: 1, outputs: given }],
    });
    const why = JSON.parse(
      (await ok(e, ['why', '-c', c, '--run', '386001', '-w', 'b', '--json'])).stdout,
    ) as {
      answers: { kind: string; text: string; madeFrom?: { from: Source[] } }[];
    };
    expect(why.answers[0]).toMatchObject({ kind: 'done', text: 'done (made from a attempt 1)' });
    expect(why.answers[0]?.madeFrom?.from[0]?.outputs).toEqual(given);
  });

  it('a parent reprocessed under the daemon leaves its dependents stale; --with-dependents re-runs them after it', async () => {
    const c = 'race';
    await setUp(c, {
      a: { command: loggingCommand('a') },
      b: { command: loggingCommand('b'), depends_on: ['a'] },
      e: { command: loggingCommand('e'), depends_on: ['a'], granularity: 'era' },
    });
    const reprocessA = (...more: string[]) =>
      ok(e, ['reprocess', '-c', c, '-w', 'a', '--era', 'Run2024C', '--mode', 'all', ...more]);
    const d = await daemonWithDashboard(e, c, '2s');
    try {
      await until(
        'first round done',
        () => status(e, c),
        (s) => s.totals.e?.done === 20 && settled(s),
      );
      await reprocessA();
      const s = await until(
        'a re-ran',
        () => status(e, c),
        (v) => settled(v) && v.stale.b === C_RUNS,
      );
      expect(s.stale).toEqual({ a: 0, b: C_RUNS, e: C_RUNS });
      expect(s.rows.filter((r) => r.stale).every((r) => r.run < 386100)).toBe(true);
      const text = (await ok(e, ['status', '-c', c, '--limit', '0'])).stdout;
      // cells separated by │ in the tables
      const cells = (line: string | undefined) =>
        (line ?? '')
          .split('│')
          .slice(1, -1)
          .map((x) => x.trim());
      const lines = text.split('\n');
      expect(cells(lines.find((l) => l.includes(' 386001 ')))).toEqual([
        '386001',
        expect.any(String),
        'Run2024C',
        'done',
        'done (stale)',
        'done (stale)',
      ]);
      expect(cells(lines.find((l) => l.includes(' 386101 ')))).not.toContain('done (stale)');
      expect(cells(lines.find((l) => l.includes(' workflow ')))).toEqual([
        'workflow',
        'new',
        'processing',
        'done',
        'failed',
        'reprocess',
        'blocked',
        'stale',
      ]);
      expect(cells(lines.find((l) => l.startsWith('│ b ')))).toEqual([
        'b',
        '0',
        '0',
        '20',
        '0',
        '0',
        '0',
        `${C_RUNS}`,
      ]);
      const why = JSON.parse((await ok(e, ['why', '-c', c, '--run', '386003', '--json'])).stdout) as {
        answers: { workflow: string; kind: string; text: string }[];
      };
      expect(why.answers.find((a) => a.workflow === 'b')).toMatchObject({
        kind: 'stale',
        text: 'done, but stale: a re-ran (attempt 2); this result used attempt 1',
      });
      expect(why.answers.find((a) => a.workflow === 'e')?.text).toMatch(
        /^done, but stale: run 3860\d\d of unit gRun2024C-386001-386012: a re-ran \(attempt 2\)/,
      );
      // the daemon's dashboard marks the stale cells
      const grid = (await (await fetch(`${d.url}/api/grid?campaign=${c}`)).json()) as {
        workflows: string[];
        runs: number[];
        stale: number[];
      };
      const staleCells = grid.stale.map((i) => `${grid.workflows[i % 3]}${grid.runs[Math.floor(i / 3)]}`);
      expect(staleCells).toHaveLength(2 * C_RUNS);
      expect(staleCells).toContain('b386001');
      expect(staleCells).toContain('e386012');
      const page = (await (await fetch(`${d.url}/api/run?campaign=${c}&run=386001`)).json()) as {
        workflows: { workflow: string; madeFrom: string }[];
      };
      expect(page.workflows.find((w) => w.workflow === 'b')?.madeFrom).toBe('made from a attempt 1');

      const dry = await reprocessA('--with-dependents', '--dry-run');
      expect(dry.stdout).toContain(`[dry run] ${c}/a: ${C_RUNS} run(s) set to reprocess`);
      expect(dry.stdout).toContain(`[dry run] ${c}/b: ${C_RUNS} run(s) set to reprocess (dependent)`);
      expect(dry.stdout).toContain(`[dry run] ${c}/e: ${C_RUNS} run(s) set to reprocess (dependent)`);
      expect((await status(e, c)).stale.b).toBe(C_RUNS);

      await reprocessA('--with-dependents');
      const after = await until(
        'the chain re-ran',
        () => status(e, c),
        (v) => settled(v) && v.stale.b === 0,
      );
      expect(after.stale).toEqual({ a: 0, b: 0, e: 0 });
    } finally {
      expect(await d.stop()).toBe(0);
    }
    const js = await jobs(e, c);
    for (const r of [386001, 386012]) {
      const a3 = js.find((j) => j.workflow === 'a' && j.runs.includes(r) && j.attempt === 3);
      const b2 = js.find((j) => j.workflow === 'b' && j.runs.includes(r) && j.attempt === 2);
      expect(a3?.status).toBe('done');
      expect(b2?.status).toBe('done');
      // b re-ran after a's new attempt ended
      expect(b2?.submittedAt ?? 0).toBeGreaterThanOrEqual(a3?.time ?? Infinity);
    }
    // Run2024D was never touched: one attempt of each
    expect(executions(e, c, 'b').filter((x) => x.startsWith('3861'))).toHaveLength(8);
    expect(executions(e, c, 'e').sort()).toEqual(
      [`${range(386001, 386012)} 1`, `${range(386101, 386108)} 1`, `${range(386001, 386012)} 2`].sort(),
    );
  });

  it('--with-dependents completes a write cut short and, repeated, marks nothing twice', async () => {
    const c = 'torn';
    await setUp(c, {
      a: { command: loggingCommand('a') },
      b: { command: loggingCommand('b'), depends_on: ['a'] },
      e: { command: loggingCommand('e'), depends_on: ['b'], granularity: 'era' },
    });
    await untilSettled(e, c, { args: ['--campaign', c] });
    const withDeps = [
      'reprocess',
      '-c',
      c,
      '-w',
      'a',
      '--runs',
      '386101',
      '--mode',
      'all',
      '--with-dependents',
    ];
    // as if the write had been cut after a's marks: a waits, its dependents are still done
    await ok(e, ['reprocess', '-c', c, '-w', 'a', '--runs', '386101', '--mode', 'all']);
    const first = await ok(e, withDeps);
    expect(first.stdout).toContain(`${c}/a: 0 run(s) set to reprocess, 1 left as they are`);
    expect(first.stdout).toContain(`${c}/b: 1 run(s) set to reprocess (dependent)`);
    expect(first.stdout).toContain(`${c}/e: 8 run(s) set to reprocess (dependent)`);
    const again = await ok(e, withDeps);
    expect(again.stdout).toContain(`${c}/b: 0 run(s) set to reprocess (dependent), 1 left as they are`);
    expect(again.stdout).toContain(`${c}/e: 0 run(s) set to reprocess (dependent), 8 left as they are`);
    await untilSettled(e, c, { args: ['--campaign', c] });
    expect(executions(e, c, 'a').filter((x) => x.startsWith('386101 '))).toEqual(['386101 1', '386101 2']);
    expect(executions(e, c, 'b').filter((x) => x.startsWith('386101 '))).toEqual(['386101 1', '386101 2']);
    expect(executions(e, c, 'e').sort()).toEqual(
      [`${range(386001, 386012)} 1`, `${range(386101, 386108)} 1`, `${range(386101, 386108)} 2`].sort(),
    );
    expect((await status(e, c)).stale).toEqual({ a: 0, b: 0, e: 0 });
  });

  it.each([
    { name: 'follow', fault: undefined },
    { name: 'follow_crash', fault: 'after-mark' },
  ])(
    'on_input_change "reprocess": stale pairs re-run once their parents are done, an era unit whole ($name)',
    async ({ name: c, fault }) => {
      await setUp(c, {
        a: { command: loggingCommand('a') },
        b: { command: loggingCommand('b'), depends_on: ['a'], on_input_change: 'reprocess' },
        e: {
          command: loggingCommand('e'),
          depends_on: ['a'],
          granularity: 'era',
          on_input_change: 'reprocess',
        },
        m: { command: loggingCommand('m'), depends_on: ['a'] },
      });
      await untilSettled(e, c, { args: ['--campaign', c] });
      await ok(e, ['reprocess', '-c', c, '-w', 'a', '--era', 'Run2024D', '--mode', 'all']);
      if (fault) {
        let killed = false;
        for (let i = 0; i < 20 && !killed; i++) {
          const r = await cli(e, ['automation', '--once', '--campaign', c], { RUNCTRL_FAULT: fault });
          killed = r.code !== 0;
          if (!killed) await new Promise((res) => setTimeout(res, 200));
        }
        expect(killed, 'the loop should have been killed after marking').toBe(true);
        // the marks were written before the kill: nothing of b or e was submitted yet
        const s = await status(e, c);
        expect(s.totals.b).toMatchObject({ reprocess: 8, processing: 0 });
      }
      const s = await untilSettled(e, c, {
        args: ['--campaign', c],
        settled: (v) => settled(v) && v.stale?.b === 0 && v.stale.e === 0,
      });
      expect(s.stale).toEqual({ a: 0, b: 0, e: 0, m: 8 });
      // exactly once per attempt: b twice for Run2024D, once for Run2024C; e's Run2024D unit twice, whole
      const b = executions(e, c, 'b');
      expect(new Set(b).size).toBe(b.length);
      expect(b.filter((x) => x.startsWith('3861'))).toHaveLength(16);
      expect(b.filter((x) => x.startsWith('3860'))).toHaveLength(12);
      expect(executions(e, c, 'e').sort()).toEqual(
        [`${range(386001, 386012)} 1`, `${range(386101, 386108)} 1`, `${range(386101, 386108)} 2`].sort(),
      );
      expect(executions(e, c, 'm')).toHaveLength(20);
      const js = await jobs(e, c);
      expect(js.filter((j) => j.workflow === 'b' && j.attempt === 2).every((j) => j.status === 'done')).toBe(
        true,
      );
    },
  );
});

function range(a: number, b: number): string {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i).join(',');
}
