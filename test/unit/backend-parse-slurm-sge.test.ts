/**
 * Pure parsing of Slurm and Grid Engine output. Outputs marked "recorded" are verbatim from Slurm 22.05.8 /
 * SoGE 8.1.9 on the test machine (private setups of scripts/slurm.sh and scripts/sge.sh); a few status paths
 * run through fake commands that replay them.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  expandIndexList,
  groupByResources,
  localIsoSeconds,
  resourceKey,
} from '../../src/backends/common.js';
import {
  classifyQsubFailure,
  mapSgeState,
  parseQacct,
  parseQdelTaken,
  parseQstatXml,
  parseQsubTerse,
  qacctTime,
  sgeArrayScript,
  SgeBackend,
  sgeJobName,
  sgeResourceArgs,
  splitSgeId,
  stateFromQacct,
} from '../../src/backends/sge.js';
import {
  arrayScript,
  classifySbatchFailure,
  mapSlurmState,
  parseSacct,
  parseSbatchParsable,
  parseSlurmExitCode,
  parseSlurmId,
  parseSqueue,
  resourceArgs,
  SlurmBackend,
  splitNativeId,
  stateFromSacct,
} from '../../src/backends/slurm.js';
import type { JobSpec, TrackedJob } from '../../src/backends/types.js';
import { TransientError } from '../../src/errors.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'runctrl-parse-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function spec(name: string, extra: Partial<JobSpec> = {}): JobSpec {
  return {
    name,
    command: 'true',
    workDir: tmp,
    stdout: path.join(tmp, `${name}.out`),
    stderr: path.join(tmp, `${name}.err`),
    exitCodeFile: path.join(tmp, `${name}.ec`),
    env: {},
    resources: {},
    ...extra,
  };
}

/** A directory with fake commands: each prints `out`, `err` and exits `rc`. */
function fakeBin(cmds: Record<string, { out?: string; err?: string; rc?: number }>): NodeJS.ProcessEnv {
  const dir = mkdtempSync(path.join(tmp, 'bin-'));
  for (const [name, c] of Object.entries(cmds)) {
    const outFile = path.join(dir, `${name}.stdout`);
    const errFile = path.join(dir, `${name}.stderr`);
    writeFileSync(outFile, c.out ?? '');
    writeFileSync(errFile, c.err ?? '');
    writeFileSync(
      path.join(dir, name),
      `#!/bin/sh\necho "$*" >> '${dir}/${name}.calls'\ncat '${outFile}'\ncat '${errFile}' >&2\nexit ${c.rc ?? 0}\n`,
    );
    chmodSync(path.join(dir, name), 0o755);
  }
  return { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}`, USER: 'root' };
}

describe('common helpers', () => {
  it('expands index lists', () => {
    expect(expandIndexList('0-3%2')).toEqual([0, 1, 2, 3]);
    expect(expandIndexList('1,3,5-7')).toEqual([1, 3, 5, 6, 7]);
    expect(expandIndexList('1-9:4')).toEqual([1, 5, 9]);
    expect(expandIndexList('5,6')).toEqual([5, 6]);
    expect(expandIndexList('x')).toBeUndefined();
    expect(expandIndexList('3-1')).toBeUndefined();
  });

  it('groups jobs by resources in input order', () => {
    const a = spec('a', { resources: { cpus: 1 } });
    const b = spec('b', { resources: { cpus: 2 } });
    const c = spec('c', { resources: { cpus: 1 } });
    expect(groupByResources([a, b, c]).map((g) => g.map((j) => j.name))).toEqual([['a', 'c'], ['b']]);
    expect(resourceKey({ queue: 'q', extra: ['--x'] })).not.toBe(resourceKey({ queue: 'q' }));
  });

  it('formats local times for sacct and qacct', () => {
    const t = new Date(2026, 10, 22, 7, 5, 9).getTime();
    expect(localIsoSeconds(t)).toBe('2026-11-22T07:05:09');
    expect(qacctTime(t)).toBe('202611220705');
  });
});

describe('slurm parsing', () => {
  it('parses sbatch --parsable (last line; id;cluster)', () => {
    expect(parseSbatchParsable('2\n')).toEqual({ jobId: '2' });
    expect(parseSbatchParsable('1234;cluster1\n')).toEqual({ jobId: '1234', cluster: 'cluster1' });
    expect(parseSbatchParsable('sbatch: some warning\n77\n')).toEqual({ jobId: '77' });
    expect(parseSbatchParsable('Submitted batch job 5')).toBeUndefined();
    expect(parseSbatchParsable('')).toBeUndefined();
  });

  it('classifies sbatch refusals: limits and an unreachable controller are deferred, the rest rejected', () => {
    const deferred = [
      "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
      'sbatch: error: AssocMaxSubmitJobLimit',
      'sbatch: error: QOSMaxSubmitJobPerUserLimit',
      // recorded (slurmctld down):
      'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)',
      'sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying',
      'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation',
    ];
    for (const t of deferred) expect(classifySbatchFailure(t), t).toBe('deferred');
    const rejected = [
      // recorded:
      'sbatch: error: invalid partition specified: nope\nsbatch: error: Batch job submission failed: Invalid partition name specified',
      'sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed: Requested node configuration is not available',
      'sbatch: unrecognized option \'--bogus\'\nTry "sbatch --help" for more information',
      'sbatch: error: Invalid --time specification',
      'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified',
    ];
    for (const t of rejected) expect(classifySbatchFailure(t), t).toBe('rejected');
  });

  it('parses squeue -r -t all output, pending array ranges and reasons with spaces', () => {
    // recorded (`-o '%i|%A|%T|%r'`), plus a reason with spaces as slurmctld prints it after a restart.
    const out = [
      '14_[1-5%1]|14|PENDING|JobArrayTaskLimit',
      '14_0|15|RUNNING|None',
      '11_1|13|CANCELLED|None',
      '7|7|FAILED|BadConstraints',
      '8|8|PENDING|ReqNodeNotAvail, UnavailableNodes:localhost',
      'garbage line',
      '',
    ].join('\n');
    const rows = parseSqueue(out);
    expect(rows.length).toBe(5);
    expect(rows[0]).toMatchObject({ base: '14', tasks: [1, 2, 3, 4, 5], state: 'PENDING' });
    expect(rows[1]).toMatchObject({ base: '14', task: 0, rawId: '15', state: 'RUNNING' });
    expect(rows[4]?.reason).toBe('ReqNodeNotAvail, UnavailableNodes:localhost');
    const multi = parseSqueue('CLUSTER: alpha\n5|5|RUNNING|None\nCLUSTER: beta\n5|5|PENDING|Priority\n');
    expect(multi.map((r) => [r.cluster, r.state])).toEqual([
      ['alpha', 'RUNNING'],
      ['beta', 'PENDING'],
    ]);
  });

  it('maps every Slurm state, long and compact', () => {
    const cases: [string, string | undefined, string][] = [
      ['PENDING', 'Priority', 'pending'],
      ['PD', 'Resources', 'pending'],
      ['PENDING', 'JobHeldUser', 'held'],
      ['PENDING', 'JobHeldAdmin', 'held'],
      ['PENDING', 'DependencyNeverSatisfied', 'held'],
      ['CONFIGURING', undefined, 'pending'],
      ['CF', undefined, 'pending'],
      ['REQUEUED', undefined, 'pending'],
      ['RQ', undefined, 'pending'],
      ['REQUEUE_FED', undefined, 'pending'],
      ['REQUEUE_HOLD', undefined, 'held'],
      ['RH', undefined, 'held'],
      ['RESV_DEL_HOLD', undefined, 'held'],
      ['SPECIAL_EXIT', undefined, 'held'],
      ['SE', undefined, 'held'],
      ['RUNNING', 'None', 'running'],
      ['R', undefined, 'running'],
      ['COMPLETING', undefined, 'running'],
      ['CG', undefined, 'running'],
      ['SIGNALING', undefined, 'running'],
      ['STAGE_OUT', undefined, 'running'],
      ['RESIZING', undefined, 'running'],
      ['SUSPENDED', undefined, 'running'],
      ['S', undefined, 'running'],
      ['STOPPED', undefined, 'running'],
      ['COMPLETED', 'None', 'done'],
      ['CD', undefined, 'done'],
      ['FAILED', 'NonZeroExitCode', 'failed'],
      ['F', undefined, 'failed'],
      ['CANCELLED', undefined, 'cancelled'],
      ['CA', undefined, 'cancelled'],
      ['CANCELLED by 1060117793', undefined, 'cancelled'],
      ['CANCELLED+', undefined, 'cancelled'],
      ['TIMEOUT', undefined, 'failed'],
      ['TO', undefined, 'failed'],
      ['OUT_OF_MEMORY', undefined, 'failed'],
      ['OOM', undefined, 'failed'],
      ['NODE_FAIL', undefined, 'failed'],
      ['NF', undefined, 'failed'],
      ['PREEMPTED', undefined, 'failed'],
      ['PR', undefined, 'failed'],
      ['BOOT_FAIL', undefined, 'failed'],
      ['BF', undefined, 'failed'],
      ['DEADLINE', undefined, 'failed'],
      ['DL', undefined, 'failed'],
      ['REVOKED', undefined, 'cancelled'],
      ['RV', undefined, 'cancelled'],
      ['WHATEVER', undefined, 'unknown'],
    ];
    for (const [s, r, want] of cases) expect(mapSlurmState(s, r).state, `${s}/${r}`).toBe(want);
    expect(mapSlurmState('TIMEOUT').reason).toBe('TIMEOUT');
    expect(mapSlurmState('CANCELLED by 0').reason).toBe('CANCELLED by 0');
    expect(mapSlurmState('PENDING', 'JobHeldUser').reason).toBe('JobHeldUser');
    expect(mapSlurmState('RUNNING', 'None').reason).toBeUndefined();
  });

  it('parses sacct / sacct -c output and exit codes', () => {
    // recorded: `sacct -c -n -P -o JobID,State,ExitCode -j 4,6,999` (stderr had "Unknown type ArrayJobId" noise)
    expect(parseSacct('4|COMPLETED|0:0\n6|FAILED|3:0\n')).toEqual([
      { id: '4', state: 'COMPLETED', exitCode: '0:0' },
      { id: '6', state: 'FAILED', exitCode: '3:0' },
    ]);
    const rows = parseSacct(
      '12_3|TIMEOUT|0:15\n12_3.batch|CANCELLED|0:15\n13|CANCELLED by 0|0:15\n14|OUT_OF_MEMORY|0:125\n',
    );
    expect(rows.map((r) => r.id)).toEqual(['12_3', '13', '14']);
    expect(stateFromSacct(rows[0] as (typeof rows)[number])).toEqual({
      state: 'failed',
      exitCode: 143,
      reason: 'TIMEOUT',
      failureClass: 'timeout',
    });
    expect(stateFromSacct(rows[1] as (typeof rows)[number])).toMatchObject({ state: 'cancelled' });
    expect(stateFromSacct({ id: '6', state: 'FAILED', exitCode: '3:0' })).toMatchObject({
      state: 'failed',
      exitCode: 3,
    });
    expect(stateFromSacct({ id: '6', state: 'COMPLETED', exitCode: '0:0' })).toEqual({
      state: 'done',
      exitCode: 0,
    });
    expect(stateFromSacct({ id: '6', state: 'NODE_FAIL', exitCode: '0:0' })).toEqual({
      state: 'failed',
      reason: 'NODE_FAIL',
      failureClass: 'node',
    });
    expect(parseSlurmExitCode('3:0')).toEqual({ exit: 3, signal: 0 });
    expect(parseSlurmExitCode('x')).toBeUndefined();
    expect(parseSacct('JobID|State|ExitCode\n')).toEqual([]);
  });

  it('splits ids and refuses anything that could become an option', () => {
    expect(splitNativeId('1234')).toEqual({ jobId: '1234', base: '1234' });
    expect(splitNativeId('1234_5')).toEqual({ jobId: '1234_5', base: '1234', task: 5 });
    expect(splitNativeId('1234_5@cl')).toEqual({ jobId: '1234_5', base: '1234', task: 5, cluster: 'cl' });
    for (const bad of ['-u root', '12;rm', 'local:vm:1:2', '']) expect(splitNativeId(bad)).toBeUndefined();
    expect(parseSlurmId('2_[0-3%2]')).toEqual({ base: '2', tasks: [0, 1, 2, 3] });
  });

  it('turns resources into sbatch options', () => {
    expect(
      resourceArgs({
        cpus: 4,
        memoryMb: 2000.5,
        walltimeMin: 90,
        queue: 'short',
        account: 'belle',
        extra: ['--qos=x'],
      }),
    ).toEqual([
      '--cpus-per-task=4',
      '--mem=2001M',
      '--time=90',
      '--partition=short',
      '--account=belle',
      '--qos=x',
    ]);
    expect(resourceArgs({})).toEqual([]);
  });

  it('the array script runs the task picked by SLURM_ARRAY_TASK_ID with its own output files', () => {
    const dir = mkdtempSync(path.join(tmp, 'arr-'));
    const jobs = [spec('t0'), spec('t1'), spec('t2', { stderr: path.join(tmp, 't2.out') })];
    jobs.forEach((j, i) =>
      writeFileSync(path.join(dir, `task-${i}.sh`), `echo task ${i}; echo err ${i} >&2; exit ${i}\n`),
    );
    const script = path.join(dir, 'array.sh');
    writeFileSync(script, arrayScript(dir, jobs));
    const run = (task: string): number => {
      try {
        execFileSync('/bin/sh', [script], { env: { SLURM_ARRAY_TASK_ID: task, SLURM_JOB_ID: `9${task}` } });
        return 0;
      } catch (e) {
        return (e as { status: number }).status;
      }
    };
    expect(run('1')).toBe(1);
    expect(execFileSync('cat', [jobs[1]?.stdout as string], { encoding: 'utf8' })).toBe('task 1\n');
    expect(execFileSync('cat', [jobs[1]?.stderr as string], { encoding: 'utf8' })).toBe('err 1\n');
    expect(execFileSync('cat', [path.join(dir, 'task-1.jobid')], { encoding: 'utf8' })).toBe('91\n');
    expect(run('2')).toBe(2);
    expect(execFileSync('cat', [jobs[2]?.stdout as string], { encoding: 'utf8' })).toBe('task 2\nerr 2\n');
    expect(run('7')).toBe(1);
  });
});

describe('slurm backend through fake commands (recorded outputs)', () => {
  const tj = (id: string, name: string): TrackedJob => ({
    id,
    name,
    exitCodeFile: path.join(tmp, `${name}.ec`),
    submittedAt: Date.now() - 60_000,
  });

  it('one squeue for all jobs; TIMEOUT/OOM from squeue; gone jobs via sacct -c after "storage is disabled"', async () => {
    const env = fakeBin({
      squeue: {
        out: '20|20|TIMEOUT|TimeLimit\n21|21|OUT_OF_MEMORY|OutOfMemory\n22_[1-3]|22|PENDING|Priority\n',
      },
      // recorded: sacct without slurmdbd
      sacct: { err: 'Slurm accounting storage is disabled\n', rc: 1 },
    });
    const b = new SlurmBackend({ stateDir: path.join(tmp, 'st1'), env });
    writeFileSync(path.join(tmp, 'to.ec'), '143\n');
    const st = await b.status([tj('20', 'to'), tj('21', 'oom'), tj('22_2', 'pend'), tj('30', 'gone')]);
    expect(st.get('20')).toEqual({
      state: 'failed',
      reason: 'TIMEOUT',
      exitCode: 143,
      failureClass: 'timeout',
    });
    expect(st.get('21')).toEqual({ state: 'failed', reason: 'OUT_OF_MEMORY', failureClass: 'oom' });
    expect(st.get('22_2')).toEqual({ state: 'pending', reason: 'Priority' });
    expect(st.get('30')?.state).toBe('unknown');
    const calls = execFileSync('sh', ['-c', 'cat "$(dirname "$(command -v squeue)")"/*.calls'], {
      env,
      encoding: 'utf8',
    });
    expect(calls.match(/-r -t all -u root/g)?.length).toBe(1);
    expect(calls).toMatch(/^-X -n -P -o JobID,State,ExitCode -S \S+ -j 30$/m);
    expect(calls).toMatch(/^-c -n -P -o JobID,State,ExitCode -S \S+ -j 30$/m);
  });

  it('a failing squeue (controller down, recorded) throws TransientError; gone squeue ids never fail', async () => {
    const env = fakeBin({
      squeue: { err: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n', rc: 1 },
    });
    const b = new SlurmBackend({ stateDir: path.join(tmp, 'st2'), env });
    await expect(b.status([tj('5', 'x')])).rejects.toBeInstanceOf(TransientError);
    await expect(b.inFlight()).rejects.toBeInstanceOf(TransientError);
    await expect(b.find(['x'])).rejects.toBeInstanceOf(TransientError);
  });

  it('scancel: unknown ids are fine, malformed ids are never passed on', async () => {
    const env = fakeBin({ scancel: { rc: 0 } });
    const b = new SlurmBackend({ stateDir: path.join(tmp, 'st3'), env });
    await b.cancel(['12', '12_3', '-u root', 'local:vm:1:2']);
    const calls = execFileSync('sh', ['-c', 'cat "$(dirname "$(command -v scancel)")"/scancel.calls'], {
      env,
      encoding: 'utf8',
    });
    expect(calls.trim()).toBe('12 12_3');
  });

  it('inFlight counts array tasks of a not-yet-split line', async () => {
    const env = fakeBin({ squeue: { out: '14_[1-5%1]\n14_0\n9\n' } });
    expect(await new SlurmBackend({ stateDir: path.join(tmp, 'st4'), env }).inFlight()).toBe(7);
  });
});

// ---------------------------------------------------------------------------------------------------------

// recorded: `qstat -xml -u '*'` with 4 running array tasks, 2 pending ones and a held job
const QSTAT_XML = `<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>3</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>rc.t.pend</JB_name>
      <JB_owner>root</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-11-22T00:51:14</JAT_start_time>
      <queue_name>all.q@vm</queue_name>
      <slots>1</slots>
      <tasks>1</tasks>
    </job_list>
    <job_list state="running">
      <JB_job_number>1</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>rc.t.one.a1</JB_name>
      <JB_owner>root</JB_owner>
      <state>t</state>
      <JAT_start_time>2026-11-22T00:51:04</JAT_start_time>
      <queue_name>all.q@vm</queue_name>
      <slots>1</slots>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>3</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>rc.t.pend</JB_name>
      <JB_owner>root</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-11-22T00:51:14</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <tasks>5,6</tasks>
    </job_list>
    <job_list state="pending">
      <JB_job_number>4</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>rc.t.held &amp; co</JB_name>
      <JB_owner>root</JB_owner>
      <state>hqw</state>
      <JB_submission_time>2026-11-22T00:51:14</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
  </job_info>
</job_info>`;

// recorded: `qacct -o root -b … -j` (trimmed to the fields we read plus a few)
const QACCT = `==============================================================
qname        all.q
hostname     vm
jobname      rc.t.arr
jobnumber    2
taskid       2
failed       0
exit_status  3
ru_wallclock 0s
==============================================================
qname        all.q
jobname      rc.t.one.a1
jobnumber    1
taskid       undefined
failed       0
exit_status  0
==============================================================
jobname      rc.t.pend
jobnumber    3
taskid       6
failed       100 : assumedly after job
exit_status  137                  (Killed)
`;

describe('sge parsing', () => {
  it('parses qsub -terse output (plain and array) and the verbose form', () => {
    expect(parseQsubTerse('1\n')).toEqual({ jobId: '1' });
    expect(parseQsubTerse('19.1-3:1\n')).toEqual({ jobId: '19', tasks: [1, 2, 3] });
    expect(parseQsubTerse('Your job 123 ("name") has been submitted\n')).toEqual({ jobId: '123' });
    expect(parseQsubTerse('Your job-array 123.1-2:1 ("name") has been submitted\n')).toEqual({
      jobId: '123',
      tasks: [1, 2],
    });
    expect(parseQsubTerse('')).toBeUndefined();
  });

  it('classifies qsub refusals', () => {
    // recorded
    expect(
      classifyQsubFailure(
        'Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"\nExiting.',
      ),
    ).toBe('rejected');
    expect(
      classifyQsubFailure(
        'Unable to run job: job rejected: the requested parallel environment "smp" does not exist\nExiting.',
      ),
    ).toBe('rejected');
    expect(classifyQsubFailure('qsub: invalid option argument "--bogus"')).toBe('rejected');
    expect(
      classifyQsubFailure(
        'error: commlib error: got select error (Connection refused)\nUnable to run job: unable to send message to qmaster using port 16454 on host "vm": got send error\nExiting.',
      ),
    ).toBe('deferred');
    expect(
      classifyQsubFailure(
        'Unable to run job: job rejected: Only 100 jobs are allowed per user (current job count: 100)',
      ),
    ).toBe('deferred');
  });

  it('parses qstat -xml: running tasks, pending task lists, held jobs, XML entities', () => {
    const jobs = parseQstatXml(QSTAT_XML);
    expect(jobs).toEqual([
      { jobId: '3', name: 'rc.t.pend', owner: 'root', state: 'r', tasks: [1] },
      { jobId: '1', name: 'rc.t.one.a1', owner: 'root', state: 't' },
      { jobId: '3', name: 'rc.t.pend', owner: 'root', state: 'qw', tasks: [5, 6] },
      { jobId: '4', name: 'rc.t.held & co', owner: 'root', state: 'hqw' },
    ]);
    expect(
      parseQstatXml(
        "<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n  </queue_info>\n  <job_info>\n  </job_info>\n</job_info>",
      ),
    ).toEqual([]);
  });

  it('maps SGE states', () => {
    const cases: [string, string][] = [
      ['qw', 'pending'],
      ['hqw', 'held'],
      ['hRwq', 'held'],
      ['Rq', 'pending'],
      ['r', 'running'],
      ['t', 'running'],
      ['Rr', 'running'],
      ['Rt', 'running'],
      ['s', 'running'],
      ['S', 'running'],
      ['T', 'running'],
      ['Eqw', 'held'],
      ['dr', 'cancelled'],
      ['dt', 'cancelled'],
      ['dqw', 'cancelled'],
      ['', 'unknown'],
    ];
    for (const [s, want] of cases) expect(mapSgeState(s).state, s).toBe(want);
    expect(mapSgeState('Eqw').reason).toMatch(/error state/);
    expect(mapSgeState('s').reason).toMatch(/suspended/);
  });

  it('parses qacct records (plain, array task, killed)', () => {
    const recs = parseQacct(QACCT);
    expect(recs).toMatchObject([
      { jobId: '2', taskId: 2, name: 'rc.t.arr', failed: 0, failedText: '0', exitStatus: 3 },
      { jobId: '1', name: 'rc.t.one.a1', failed: 0, failedText: '0', exitStatus: 0 },
      {
        jobId: '3',
        taskId: 6,
        name: 'rc.t.pend',
        failed: 100,
        failedText: 'assumedly after job',
        exitStatus: 137,
      },
    ]);
    expect(stateFromQacct(recs[0] as (typeof recs)[number])).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(stateFromQacct(recs[1] as (typeof recs)[number])).toEqual({ state: 'done', exitCode: 0 });
    expect(stateFromQacct(recs[2] as (typeof recs)[number])).toEqual({
      state: 'failed',
      exitCode: 137,
      reason: 'failed 100: assumedly after job',
    });
    expect(parseQacct('error: job id 99999 not found\n')).toEqual([]);
  });

  it('parses what qdel took (recorded)', () => {
    const text = [
      'root has registered the job-array task 3.5 for deletion',
      'denied: job "99999" does not exist',
      'root has deleted job 4',
      'root has registered the job 16 for deletion',
      'job 2 is already in deletion',
    ].join('\n');
    expect(parseQdelTaken(text)).toEqual(['3.5', '4', '16']);
  });

  it('ids, names, resources and the array script', () => {
    expect(splitSgeId('19.2')).toEqual({ jobId: '19', task: 2 });
    expect(splitSgeId('19')).toEqual({ jobId: '19' });
    expect(splitSgeId('-u *')).toBeUndefined();
    expect(sgeJobName('rc.c.w.1.a1')).toBe('rc.c.w.1.a1');
    expect(sgeJobName('1a/b:c')).toBe('j1a_b_c');
    expect(
      sgeResourceArgs({
        cpus: 4,
        memoryMb: 1000,
        walltimeMin: 90,
        queue: 'all.q',
        account: 'x',
        extra: ['-P', 'p'],
      }),
    ).toEqual([
      '-pe',
      'smp',
      '4',
      '-l',
      'h_vmem=1000M',
      '-l',
      'h_rt=1:30:00',
      '-q',
      'all.q',
      '-A',
      'x',
      '-P',
      'p',
    ]);
    expect(sgeResourceArgs({ cpus: 1 }, 'mpi', 'mem_free')).toEqual([]);
    const script = sgeArrayScript('/d', [spec('a'), spec('b')]);
    expect(script).toContain(`  1) exec /bin/sh '/d/task-1.sh' >'${tmp}/a.out' 2>'${tmp}/a.err' ;;`);
    expect(script).toContain('case "$SGE_TASK_ID" in');
  });
});

describe('sge backend through fake commands (recorded outputs)', () => {
  const tj = (id: string, name: string): TrackedJob => ({
    id,
    name,
    exitCodeFile: path.join(tmp, `sge-${name}.ec`),
    submittedAt: Date.now() - 60_000,
  });

  it('one qstat -xml for all jobs, one qacct for the missing ones', async () => {
    const env = fakeBin({ qstat: { out: QSTAT_XML }, qacct: { out: QACCT } });
    const b = new SgeBackend({ stateDir: path.join(tmp, 'sg1'), env });
    const st = await b.status([
      tj('3.1', 'a'),
      tj('3.6', 'b'),
      tj('4', 'c'),
      tj('2.2', 'd'),
      tj('1', 'e'),
      tj('9', 'f'),
    ]);
    expect(st.get('3.1')?.state).toBe('running');
    expect(st.get('3.6')?.state).toBe('pending');
    expect(st.get('4')?.state).toBe('held');
    expect(st.get('2.2')).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(st.get('1')).toEqual({ state: 'running' }); // listed by qstat: its qacct record is not consulted
    expect(st.get('9')?.state).toBe('unknown');
    expect(await b.inFlight()).toBe(5);
    const calls = execFileSync('sh', ['-c', 'cat "$(dirname "$(command -v qstat)")"/*.calls'], {
      env,
      encoding: 'utf8',
    });
    expect(calls).toMatch(/^-xml -u root$/m);
    expect(calls).toMatch(/^-o root -b \d{12} -j$/m);
  });

  it('a failing qstat (recorded, qmaster down) throws TransientError', async () => {
    const env = fakeBin({
      qstat: {
        err: 'error: commlib error: got select error (Connection refused)\nerror: unable to send message to qmaster using port 16454 on host "vm": got send error\n',
        rc: 1,
      },
    });
    const b = new SgeBackend({ stateDir: path.join(tmp, 'sg2'), env });
    await expect(b.status([tj('1', 'x')])).rejects.toBeInstanceOf(TransientError);
  });

  it('does not create its state dir before it needs it', () => {
    mkdirSync(path.join(tmp, 'sg3'), { recursive: true });
    expect(() => new SgeBackend({ stateDir: path.join(tmp, 'sg3') })).not.toThrow();
  });
});
