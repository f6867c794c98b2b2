/** Unit tests of the pure output parsers of the HTCondor, LSF and PBS backends, against recorded fixtures. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classadString,
  condorAdState,
  condorKey,
  enteredCurrentStatusMs,
  formatCondorId,
  isCondorFetchFailure,
  isCondorRmBenign,
  isCondorSubmitTransient,
  jobFlavour,
  parseCondorId,
  parseCondorJson,
  parseCondorSubmit,
  type CondorAd,
} from '../../src/backends/htcondor.js';
import {
  bjobsKey,
  isBkillBenign,
  isLsfSubmitTransient,
  lsfRecordState,
  parseBjobsJson,
  parseBjobsNotFound,
  parseBsubOutput,
} from '../../src/backends/lsf.js';
import {
  detectPbsFlavour,
  isPbsSubmitTransient,
  isQdelBenign,
  isQstatJobLine,
  parsePbsProJson,
  parseQstatTable,
  parseQsubOutput,
  parseTorqueXml,
  parseUnknownJobIds,
  pbsElementId,
  pbsJobState,
  pbsShortId,
  type PbsJobInfo,
} from '../../src/backends/pbs.js';
import { hhmmss, redirectedScript, stateOfExitCode } from '../../src/backends/common.js';

const FIX = path.resolve(import.meta.dirname, '..', 'fixtures');
const fx = (p: string): string => readFileSync(path.join(FIX, p), 'utf8');

describe('HTCondor parsers', () => {
  it('condor_submit -terse and the normal summary give the proc ranges', () => {
    expect(parseCondorSubmit(fx('htcondor/condor_submit-terse.stdout.txt'))).toEqual([
      { cluster: 31, first: 0, last: 4 },
    ]);
    expect(parseCondorSubmit(fx('htcondor/condor_submit.stdout.txt'))).toEqual([
      { cluster: 31, first: 0, last: 4 },
    ]);
    expect(parseCondorSubmit('31.0 - 31.1\n32.0 - 32.0\n')).toEqual([
      { cluster: 31, first: 0, last: 1 },
      { cluster: 32, first: 0, last: 0 },
    ]);
    expect(parseCondorSubmit('')).toEqual([]);
  });

  it('ids keep the schedd', () => {
    expect(formatCondorId('sched01.example.org', 31, 2)).toBe('sched01.example.org#31.2');
    expect(parseCondorId('sched01.example.org#31.2')).toEqual({
      schedd: 'sched01.example.org',
      cluster: 31,
      proc: 2,
    });
    expect(parseCondorId('local#5.0')).toEqual({ schedd: 'local', cluster: 5, proc: 0 });
    expect(parseCondorId('31.0')).toBeUndefined();
    expect(parseCondorId('#31.0')).toBeUndefined();
  });

  it('condor_q -json: every JobStatus maps; held surfaces HoldReason; 6 is not a failure', () => {
    const ads = parseCondorJson(fx('htcondor/condor_q.stdout.json'));
    expect(ads).toHaveLength(7);
    const st = new Map(ads.map((ad) => [condorKey(ad.ClusterId, ad.ProcId), condorAdState(ad)]));
    expect(st.get('31.0')).toEqual({ state: 'pending' });
    expect(st.get('31.1')).toEqual({ state: 'running' });
    expect(st.get('31.2')).toEqual({
      state: 'held',
      reason: 'via condor_hold (by user mgower) (HoldReasonCode 1)',
    });
    expect(st.get('31.3')).toEqual({ state: 'running', reason: 'transferring output' });
    expect(st.get('31.4')).toEqual({ state: 'running', reason: 'suspended' });
    expect(st.get('32.0')).toEqual({ state: 'cancelled', reason: 'removed: via condor_rm (by user alice)' });
    expect(st.get('32.1')?.state).toBe('pending');
    expect(enteredCurrentStatusMs(ads[2] as CondorAd)).toBe(1_700_000_300_000);
  });

  it('empty condor_q output is no jobs; bad output throws', () => {
    expect(parseCondorJson(fx('htcondor/condor_q-empty.stdout.json'))).toEqual([]);
    expect(parseCondorJson('\n')).toEqual([]);
    expect(() => parseCondorJson('-- Schedd: x : <1.2.3.4:9618>')).toThrow();
    expect(() => parseCondorJson('{"a":1}')).toThrow(/not an array/);
  });

  it('condor_history: completed by ExitCode / ExitBySignal, removed = cancelled', () => {
    const ads = parseCondorJson(fx('htcondor/condor_history.stdout.json'));
    const st = new Map(ads.map((ad) => [condorKey(ad.ClusterId, ad.ProcId), condorAdState(ad)]));
    expect(st.get('30.0')).toEqual({ state: 'done', exitCode: 0 });
    expect(st.get('30.1')).toEqual({
      state: 'failed',
      exitCode: 3,
      reason: 'exit code 3',
      failureClass: 'app',
    });
    expect(st.get('29.0')).toEqual({ state: 'failed', exitCode: 137, reason: 'killed by signal 9' });
    expect(st.get('28.0')?.state).toBe('cancelled');
    expect(condorAdState({ ClusterId: 1, ProcId: 0, JobStatus: 4 })).toBeUndefined();
  });

  it('recognises the recorded error texts', () => {
    expect(isCondorFetchFailure(fx('htcondor/condor_q-failed-fetch.stderr.txt'))).toBe(true);
    expect(isCondorSubmitTransient(fx('htcondor/condor_submit-no-schedd.stderr.txt'))).toBe(true);
    expect(isCondorSubmitTransient(fx('htcondor/condor_submit-queue-manager.stderr.txt'))).toBe(true);
    expect(isCondorSubmitTransient(fx('htcondor/condor_submit-max-jobs.stderr.txt'))).toBe(true);
    expect(isCondorSubmitTransient(fx('htcondor/condor_submit-missing-executable.stderr.txt'))).toBe(false);
    for (const f of [
      'condor_rm.stdout.txt',
      'condor_rm-not-found.stderr.txt',
      'condor_rm-cluster.stdout.txt',
    ]) {
      for (const line of fx(`htcondor/${f}`).split('\n')) expect(isCondorRmBenign(line)).toBe(true);
    }
    expect(isCondorRmBenign(fx('htcondor/condor_rm-cluster-not-found.stderr.txt').trim())).toBe(true);
    expect(isCondorRmBenign('ERROR: Failed to connect to local queue manager')).toBe(false);
  });

  it('quotes ClassAd strings and picks JobFlavours', () => {
    expect(classadString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(jobFlavour(10)).toBe('espresso');
    expect(jobFlavour(61)).toBe('longlunch');
    expect(jobFlavour(100_000)).toBe('nextweek');
  });
});

describe('LSF parsers', () => {
  it('bsub output gives the job id', () => {
    expect(parseBsubOutput(fx('lsf/bsub.stdout.txt'))).toBe('268055683');
    expect(parseBsubOutput(fx('lsf/bsub-default-queue.stdout.txt'))).toBe('444');
    expect(
      parseBsubOutput(`${fx('lsf/bsub-cannot-connect.stderr.txt')}Job <12> is submitted to queue <a>.\n`),
    ).toBe('12');
    expect(parseBsubOutput('Job not submitted.')).toBeUndefined();
  });

  it('bsub errors: pending threshold / no connection are transient, rusage rejection is not', () => {
    expect(isLsfSubmitTransient(fx('lsf/bsub-pending-threshold.stderr.txt'))).toBe(true);
    expect(isLsfSubmitTransient(fx('lsf/bsub-cannot-connect.stderr.txt'))).toBe(true);
    expect(isLsfSubmitTransient(fx('lsf/bsub-rusage-rejected.stderr.txt'))).toBe(false);
  });

  it('bjobs -json: states, exit codes, killed = cancelled, ERROR = not found', () => {
    const a = parseBjobsJson(fx('lsf/bjobs.stdout.json'));
    expect(a.notFound).toEqual(['123']);
    expect(a.errors).toEqual([]);
    const st = new Map(a.records.map((r) => [bjobsKey(r), lsfRecordState(r)]));
    expect(st.get('806290')).toEqual({ state: 'running' });
    expect(st.get('806291')).toEqual({ state: 'pending', reason: 'New job is waiting for scheduling;' });
    expect(st.get('22005')).toEqual({ state: 'done', exitCode: 0 });
    expect(st.get('22006')).toEqual({ state: 'failed', exitCode: 3, reason: 'exit code 3' });
    expect(st.get('22007')).toEqual({
      state: 'cancelled',
      exitCode: 130,
      reason: 'TERM_OWNER: job killed by owner',
    });
    expect(st.get('58652[3]')?.state).toBe('pending');
    expect(st.has('58653')).toBe(true);
    expect(st.get('58653')).toBeUndefined(); // UNKWN: ask the exit-code file
    expect(parseBjobsJson(fx('lsf/bjobs-empty.stdout.json'))).toEqual({
      records: [],
      notFound: [],
      errors: [],
    });
    expect(() => parseBjobsJson('No unfinished job found')).toThrow();
  });

  it('bjobs JSON after "Please wait" lines still parses', () => {
    const a = parseBjobsJson(fx('lsf/bjobs-please-wait.stdout.txt'));
    expect(a.records).toHaveLength(1);
    expect(lsfRecordState(a.records[0] as Record<string, string>)).toEqual({
      state: 'cancelled',
      reason: 'TERM_OWNER: job killed by owner',
    });
  });

  it('plain-text not-found lines and bkill results', () => {
    expect(parseBjobsNotFound(fx('lsf/bjobs-not-found.stderr.txt'))).toEqual(['1']);
    expect(isBkillBenign(fx('lsf/bkill.stdout.txt').trim())).toBe(true);
    expect(isBkillBenign(fx('lsf/bkill-finished.stderr.txt').trim())).toBe(true);
    expect(isBkillBenign(fx('lsf/bkill-no-match.stderr.txt').trim())).toBe(true);
    expect(isBkillBenign('LSF is down. Please wait ...')).toBe(false);
  });

  it('array element keys', () => {
    expect(bjobsKey({ JOBID: '123', JOBINDEX: '4' })).toBe('123[4]');
    expect(bjobsKey({ JOBID: '123', JOBINDEX: '0' })).toBe('123');
    expect(bjobsKey({ JOBID: '123[4]' })).toBe('123[4]');
    expect(bjobsKey({ JOBID: '' })).toBeUndefined();
  });
});

describe('PBS / Torque parsers', () => {
  it('qsub keeps the full id', () => {
    expect(parseQsubOutput(fx('pbs/qsub-pbspro.stdout.txt'))).toBe('2154.edtb-01.mcp.alcf.anl.gov');
    expect(parseQsubOutput(fx('pbs/qsub-torque.stdout.txt'))).toBe('548.moab');
    expect(parseQsubOutput(fx('pbs/qsub-torque-array.stdout.txt'))).toBe(
      '3386904[].dedicated-sched.pace.gatech.edu',
    );
    expect(parseQsubOutput('qsub: Unknown queue')).toBeUndefined();
    expect(pbsElementId('3386904[].dedicated-sched.pace.gatech.edu', 7)).toBe(
      '3386904[7].dedicated-sched.pace.gatech.edu',
    );
    expect(pbsElementId('12.srv', 2)).toBe('12[2].srv');
    expect(pbsShortId('2154.edtb-01.mcp.alcf.anl.gov')).toBe('2154');
  });

  it('qsub errors: limits and unreachable servers are transient', () => {
    expect(isPbsSubmitTransient(fx('pbs/qsub-torque-limit.stderr.txt'))).toBe(true);
    expect(isPbsSubmitTransient(fx('pbs/qsub-torque-trqauthd.stderr.txt'))).toBe(true);
    expect(isPbsSubmitTransient('qsub: Unknown queue')).toBe(false);
    expect(isPbsSubmitTransient('qsub: Job exceeds queue resource limits')).toBe(false);
  });

  it('detects the flavour', () => {
    expect(detectPbsFlavour(fx('pbs/qstat-version-pbspro.stdout.txt'))).toBe('pbspro');
    expect(detectPbsFlavour(fx('pbs/qstat-version-torque.stdout.txt'))).toBe('torque');
    expect(detectPbsFlavour('')).toBeUndefined();
  });

  it('PBS Pro JSON: running job with its full id', () => {
    const jobs = parsePbsProJson(fx('pbs/qstat-pbspro-running.stdout.json'));
    expect(jobs).toHaveLength(1);
    const j = jobs[0] as PbsJobInfo;
    expect(j.id).toBe('12860476.meta-pbs.metacentrum.cz');
    expect(j.name).toBe('swrap_01');
    expect(pbsJobState(j)).toEqual({ state: 'running' });
  });

  it('PBS Pro JSON: F by Exit_status (0 done, 3 failed, 271 cancelled), E still running, H held, X subjob', () => {
    const jobs = parsePbsProJson(fx('pbs/qstat-pbspro-states.stdout.json'));
    const st = new Map(jobs.map((j) => [pbsShortId(j.id), pbsJobState(j)]));
    expect(st.get('2154')).toEqual({ state: 'done', exitCode: 0 });
    expect(st.get('2155')).toEqual({ state: 'failed', exitCode: 3, reason: 'Exit_status 3' });
    expect(st.get('2156')).toMatchObject({ state: 'cancelled', exitCode: 271 });
    expect(st.get('2157')).toEqual({ state: 'running', reason: 'exiting (E)' });
    expect(st.get('2158')).toEqual({ state: 'held', reason: 'job held, too many failed attempts to run' });
    expect(st.get('2159[]')).toEqual({ state: 'running' });
    expect(st.get('2159[1]')).toEqual({ state: 'done', exitCode: 0 });
    expect(jobs.find((j) => j.id.startsWith('2159[]'))?.remaining).toBe(2);
    expect(pbsJobState({ id: '1.s', state: 'F' })).toBeUndefined();
  });

  it('PBS Pro JSON without Jobs = no jobs; unknown ids from stderr', () => {
    expect(parsePbsProJson(fx('pbs/qstat-pbspro-nojobs.stdout.json'))).toEqual([]);
    expect(parsePbsProJson('')).toEqual([]);
    expect(parseUnknownJobIds(fx('pbs/qstat-pbspro-unknown.stderr.txt'))).toEqual([
      '2001.g3',
      '2002.g3',
      '2003.g3',
    ]);
    expect(parseUnknownJobIds(fx('pbs/qstat-torque-unknown.stderr.txt'))).toEqual([
      '3685292.mgt.meerkat.mcri.edu.au',
      '12345.mgt.meerkat.mcri.edu.au',
    ]);
    for (const f of [
      'qstat-pbspro-unknown.stderr.txt',
      'qstat-torque-unknown.stderr.txt',
      'qstat-pbspro-finished-no-x.stderr.txt',
    ]) {
      for (const line of fx(`pbs/${f}`).split('\n')) expect(isQstatJobLine(line)).toBe(true);
    }
    expect(isQstatJobLine('qstat: cannot connect to server pbs01 (errno=111)')).toBe(false);
  });

  it('PBS Pro JSON with an unescaped backslash (older servers) still parses', () => {
    const bad =
      '{\n    "Jobs":{\n        "1.s":{\n            "job_state":"R",\n            "Variable_List":{"X":"a\\qb"}\n        }\n    }\n}';
    expect(parsePbsProJson(bad)).toEqual([{ id: '1.s', state: 'R' }]);
  });

  it('Torque XML: Q, C with exit_status, multi-line values, header and entities', () => {
    const q = parseTorqueXml(fx('pbs/qstat-torque-queued.stdout.xml'));
    expect(q).toEqual([
      {
        id: '4499334.pbsserver',
        state: 'Q',
        name: 'r180328_183957634_pid_4_starAlignment',
        owner: 'otp-data@subm.example.com',
      },
    ]);
    const c = parseTorqueXml(fx('pbs/qstat-torque-completed.stdout.xml'));
    expect(c[0]).toMatchObject({ id: '4564045.pbsserver', state: 'C', exitStatus: 0 });
    expect(pbsJobState(c[0] as PbsJobInfo)).toEqual({ state: 'done', exitCode: 0 });
    const m = parseTorqueXml(fx('pbs/qstat-torque-mixed.stdout.xml'));
    expect(m.map((j) => [j.id, pbsJobState(j)?.state])).toEqual([
      ['72.c0', 'running'],
      ['73.c0', 'cancelled'],
      ['74.c0', 'failed'],
      ['75.c0', 'running'],
    ]);
    expect(m[3]?.name).toBe('vasp & co');
  });

  it('qstat tables (PBS Pro and Torque)', () => {
    expect(
      parseQstatTable(fx('pbs/qstat-pbspro-table.stdout.txt')).map((j) => [j.id, j.state, j.owner]),
    ).toEqual([
      ['2008.g3', 'Q', 'ivan'],
      ['2009.g3', 'Q', 'ivan'],
      ['2010.g3', 'Q', 'ivan'],
    ]);
    expect(parseQstatTable(fx('pbs/qstat-torque-table.stdout.txt'))).toEqual([
      { id: '548.moab', state: 'R', name: 'STDIN', owner: 'fred' },
    ]);
  });

  it('qdel of finished / unknown jobs is benign', () => {
    for (const f of [
      'qdel-pbspro-finished.stderr.txt',
      'qdel-pbspro-unknown.stderr.txt',
      'qdel-torque-completed.stderr.txt',
    ]) {
      expect(isQdelBenign(fx(`pbs/${f}`).trim())).toBe(true);
    }
    expect(isQdelBenign('qdel: cannot connect to server pbs01 (errno=111)')).toBe(false);
  });
});

describe('shared helpers', () => {
  it('scripts redirect stdout/stderr before the wrapper', () => {
    const s = redirectedScript(
      {
        name: 'n',
        command: 'echo hi',
        workDir: "/w d/it's",
        stdout: '/o/out',
        stderr: '/o/err',
        exitCodeFile: '/o/ec',
        env: {},
        resources: {},
      },
      ['#BSUB -R x'],
    );
    const lines = s.split('\n');
    expect(lines[0]).toBe('#!/bin/sh');
    expect(lines[1]).toBe('#BSUB -R x');
    expect(lines[2]).toBe("exec >'/o/out' 2>'/o/err' </dev/null");
    expect(s).toContain('runctrl_write_ec');
  });

  it('exit codes and walltimes', () => {
    expect(stateOfExitCode(0)).toEqual({ state: 'done', exitCode: 0 });
    expect(stateOfExitCode(143)).toEqual({ state: 'failed', exitCode: 143, reason: 'terminated (SIGTERM)' });
    expect(hhmmss(90.5)).toBe('01:30:30');
  });
});
