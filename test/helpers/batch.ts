/** Private batch systems for end-to-end tests (root only): scripts/slurm.sh and scripts/sge.sh. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './ctx.js';

const slurmScript = path.join(ROOT, 'scripts', 'slurm.sh');

/** A private Slurm for the scenario on the slurm backend (root only; scripts/slurm.sh). */
export function startSlurm(): { conf: string; stop: () => void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-e2e-slurm-'));
  chmodSync(base, 0o755);
  const dir = path.join(base, 'slurm');
  const out = execFileSync('bash', [slurmScript, 'up', dir], {
    encoding: 'utf8',
    env: { ...process.env, SLURM_CPUS: '8', SLURM_MIN_JOB_AGE: '30' },
  });
  const conf = /export SLURM_CONF=(\S+)/.exec(out)?.[1];
  if (!conf) throw new Error(`scripts/slurm.sh up printed no SLURM_CONF: ${out}`);
  return {
    conf,
    stop: () => {
      execFileSync('bash', [slurmScript, 'down', dir], { stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    },
  };
}

const sgeScript = path.join(ROOT, 'scripts', 'sge.sh');

/** A private Grid Engine in its network namespace (root only; scripts/sge.sh); returns the PATH with its clients. */
export function startSge(): { bin: string; stop: () => void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'runctrl-e2e-sge-'));
  const dir = path.join(base, 'sge');
  const out = execFileSync('bash', [sgeScript, 'up', dir], {
    encoding: 'utf8',
    env: { ...process.env, SGE_SLOTS: '8' },
  });
  const bin = /export PATH=(\S+?):\$PATH/.exec(out)?.[1];
  if (!bin) throw new Error(`scripts/sge.sh up printed no PATH: ${out}`);
  return {
    bin,
    stop: () => {
      execFileSync('bash', [sgeScript, 'down', dir], { stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    },
  };
}
