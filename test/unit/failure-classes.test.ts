/**
 * Failure classes per backend from recorded(-style) fixtures (test/fixtures/*, each README names its source),
 * and how the poller reads a failure no backend classified.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { walltimeMinutes, walltimeSeconds } from '../../src/backends/common.js';
import { condorAdState, condorKey, parseCondorJson } from '../../src/backends/htcondor.js';
import { lsfRecordState, parseBjobsJson } from '../../src/backends/lsf.js';
import { parsePbsProJson, parseTorqueXml, pbsJobState } from '../../src/backends/pbs.js';
import {
  parseQacct,
  sgeMemoryMb,
  sgeResourceArgs,
  sgeSeconds,
  stateFromQacct,
} from '../../src/backends/sge.js';
import { mapSlurmState, parseSacct, resourceArgs, stateFromSacct } from '../../src/backends/slurm.js';
import { failureClassOf } from '../../src/automation/poll.js';

const FIX = path.resolve(import.meta.dirname, '..', 'fixtures');
const fx = (p: string): string => readFileSync(path.join(FIX, p), 'utf8');

describe('Slurm failure classes', () => {
  it('reads OUT_OF_MEMORY, TIMEOUT/DEADLINE, NODE_FAIL/PREEMPTED/BOOT_FAIL and FAILED from sacct', () => {
    const st = new Map(
      parseSacct(fx('slurm/sacct-failures.stdout.txt')).map((r) => [r.id, stateFromSacct(r)]),
    );
    expect([...st.keys()]).toEqual(['41', '42', '43', '44', '45', '46', '47', '48', '49']);
    const cls = (id: string): string | undefined => st.get(id)?.failureClass;
    expect(['41', '42', '43', '44', '45', '47', '48'].map(cls)).toEqual([
      'timeout',
      'oom',
      'node',
      'node',
      'app',
      'node',
      'timeout',
    ]);
    expect(st.get('45')).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(st.get('46')).toMatchObject({ state: 'cancelled' });
    expect(cls('46')).toBeUndefined();
    expect(st.get('49')).toEqual({ state: 'done', exitCode: 0 });
    // squeue's compact states too
    expect(mapSlurmState('OOM').failureClass).toBe('oom');
    expect(mapSlurmState('TO').failureClass).toBe('timeout');
    expect(mapSlurmState('PR').failureClass).toBe('node');
  });

  it('asks whole minutes of --time, rounded up from fractional ones', () => {
    expect(resourceArgs({ walltimeMin: 0.05 })).toContain('--time=1');
    expect(resourceArgs({ walltimeMin: 2.5 })).toContain('--time=3');
    expect(resourceArgs({ walltimeMin: 2 })).toContain('--time=2');
    expect(walltimeMinutes(1.0000000000000002)).toBe(1);
    expect(walltimeSeconds(0.05)).toBe(3); // 0.05 × 60 = 3.0000000000000004
    expect(walltimeSeconds(0.001)).toBe(1);
  });
});

describe('Grid Engine failure classes (recorded qacct)', () => {
  it('h_rt kill → timeout; h_vmem allocation failure is the command exit (app); exit 3 → app; qdel → none', () => {
    const recs = parseQacct(fx('sge/qacct-limits.stdout.txt'));
    expect(recs.map((r) => r.jobId)).toEqual(['1', '2', '3', '4']);
    expect(recs[0]).toMatchObject({ failed: 37, exitStatus: 137, wallclockS: 3, hRtS: 3 });
    const st = recs.map(stateFromQacct);
    expect(st[0]).toMatchObject({ state: 'failed', exitCode: 137, failureClass: 'timeout' });
    expect(st[1]).toMatchObject({ state: 'failed', exitCode: 1, failureClass: 'app' });
    expect(recs[1]?.hVmemMb).toBe(100);
    expect(st[2]).toMatchObject({ state: 'failed', exitCode: 3, failureClass: 'app' });
    expect(st[3]).toMatchObject({ state: 'failed', exitCode: 137 });
    expect(st[3]?.failureClass).toBeUndefined();
  });

  it('an execd kill at h_vmem (maxvmem at the limit) → oom; a job that could not start on its host → node', () => {
    const base = { jobId: '9', name: 'x', failedText: '' };
    expect(
      stateFromQacct({ ...base, failed: 100, exitStatus: 137, maxvmemMb: 200, hVmemMb: 200 }).failureClass,
    ).toBe('oom');
    expect(stateFromQacct({ ...base, failed: 8, exitStatus: 0 }).failureClass).toBe('node');
    expect(stateFromQacct({ ...base, failed: 28, exitStatus: 0 }).failureClass).toBe('app');
    expect(sgeMemoryMb('3.391MB')).toBeCloseTo(3.391);
    expect(sgeMemoryMb('1.5G')).toBe(1536);
    expect(sgeMemoryMb('500m')).toBeCloseTo(476.84, 1);
    expect(sgeSeconds('0:1:30')).toBe(90);
    expect(sgeSeconds('3s')).toBe(3);
    expect(sgeResourceArgs({ walltimeMin: 0.05 })).toEqual(['-l', 'h_rt=0:00:03']);
  });
});

describe('HTCondor failure classes', () => {
  it('holds for memory (34/102, 21/102) → failed oom (the backend removes them); 46/47 → timeout; a user hold stays held', () => {
    const ads = parseCondorJson(fx('htcondor/condor_q-limits.stdout.json'));
    const st = new Map(ads.map((ad) => [condorKey(ad.ClusterId, ad.ProcId), condorAdState(ad)]));
    expect(st.get('40.0')).toMatchObject({ state: 'failed', failureClass: 'oom' });
    expect(st.get('40.1')).toMatchObject({ state: 'failed', failureClass: 'timeout' });
    expect(st.get('40.2')).toMatchObject({ state: 'failed', failureClass: 'oom' });
    expect(st.get('40.3')).toMatchObject({ state: 'held' });
    expect(st.get('40.4')).toMatchObject({ state: 'failed', failureClass: 'timeout' });
    expect(st.get('40.0')?.reason).toMatch(/gone over memory limit of 2048 megabytes.*HoldReasonCode 34/);
  });

  it('history: evicted and removed → node, killed over RequestMemory → oom, exit 2 → app, site removal for memory → oom', () => {
    const ads = parseCondorJson(fx('htcondor/condor_history-limits.stdout.json'));
    const st = new Map(ads.map((ad) => [condorKey(ad.ClusterId, ad.ProcId), condorAdState(ad)]));
    expect(st.get('41.0')).toMatchObject({ state: 'cancelled', failureClass: 'node' });
    expect(st.get('41.1')).toMatchObject({ state: 'failed', exitCode: 137, failureClass: 'oom' });
    expect(st.get('41.2')).toMatchObject({ state: 'failed', exitCode: 2, failureClass: 'app' });
    expect(st.get('41.3')).toMatchObject({ state: 'cancelled', failureClass: 'oom' });
  });
});

describe('LSF failure classes', () => {
  it('TERM_MEMLIMIT → oom, TERM_RUNLIMIT → timeout, TERM_PREEMPT → node, a plain exit → none, TERM_OWNER → cancelled', () => {
    const recs = parseBjobsJson(fx('lsf/bjobs-limits.stdout.json')).records;
    const st = recs.map(lsfRecordState);
    expect(st.map((s) => s?.failureClass)).toEqual(['oom', 'timeout', 'node', undefined, undefined]);
    expect(st[0]).toMatchObject({ state: 'failed', exitCode: 137 });
    expect(st[3]).toMatchObject({ state: 'failed', exitCode: 2 });
    expect(st[4]).toMatchObject({ state: 'cancelled' });
  });
});

describe('PBS failure classes', () => {
  it('PBS Pro: -29 → timeout, -27 → oom, -20 → node, 2 → none, 271 with a walltime comment → timeout', () => {
    const jobs = parsePbsProJson(fx('pbs/qstat-pbspro-limits.stdout.json'));
    const st = jobs.map((j) => pbsJobState(j, 'pbspro'));
    expect(st.map((s) => s?.failureClass)).toEqual(['timeout', 'oom', 'node', undefined, 'timeout']);
    expect(st[4]).toMatchObject({ state: 'failed', exitCode: 271 });
  });

  it('Torque: -11 → timeout, -10 → oom, -3 → node; 265 (qdel) stays cancelled', () => {
    const jobs = parseTorqueXml(fx('pbs/qstat-torque-limits.stdout.xml'));
    const st = jobs.map((j) => pbsJobState(j, 'torque'));
    expect(st.map((s) => s?.failureClass)).toEqual(['timeout', 'oom', 'node', undefined]);
    expect(st[3]).toMatchObject({ state: 'cancelled', exitCode: 265 });
  });
});

describe('the poller, when no backend classified', () => {
  it('a non-zero exit is the command (app); a signal, a cancel or no exit code is unknown', () => {
    expect(failureClassOf({ state: 'failed', exitCode: 3 })).toBe('app');
    expect(failureClassOf({ state: 'failed', exitCode: 137 })).toBe('unknown');
    expect(failureClassOf({ state: 'failed' })).toBe('unknown');
    expect(failureClassOf({ state: 'cancelled', exitCode: 3 })).toBe('unknown');
    expect(failureClassOf({ state: 'failed', exitCode: 137, failureClass: 'oom' })).toBe('oom');
  });
});
