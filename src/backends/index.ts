/** The backend factory: a backend by name. */
import { UserError } from '../errors.js';
import { HTCondorBackend } from './htcondor.js';
import { LocalBackend, type LocalOptions } from './local.js';
import { LsfBackend } from './lsf.js';
import { PbsBackend } from './pbs.js';
import { SgeBackend, type SgeOptions } from './sge.js';
import { SlurmBackend, type SlurmOptions } from './slurm.js';
import type { Backend } from './types.js';

export const BACKEND_NAMES = ['local', 'slurm', 'sge', 'htcondor', 'lsf', 'pbs'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface CreateBackendOptions {
  /** runctrl's state directory (registries, array scripts). */
  stateDir: string;
  /** Environment of the batch commands / local jobs; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Backend-specific settings (stateDir and env above win). */
  local?: Partial<LocalOptions>;
  slurm?: Partial<SlurmOptions>;
  sge?: Partial<SgeOptions>;
}

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * Site settings of a backend come from the environment (the same campaign moves between sites by changing
 * the workflow's backend; the site's specifics stay with the site):
 *
 * | variable                         | backend  | meaning                                               |
 * |----------------------------------|----------|-------------------------------------------------------|
 * | RUNCTRL_LOCAL_CPUS, _MEMORY_MB   | local    | the executor's cpus and memory (default: the machine's) |
 * | RUNCTRL_LOCAL_MAX_RUNNING        | local    | local jobs at once at most (default: no cap)          |
 * | RUNCTRL_LOCAL_MEMORY_LIMIT       | local    | `as` (memory_mb as RLIMIT_AS, default) or `off`       |
 * | RUNCTRL_HTCONDOR_SCHEDD          | htcondor | schedd name (`-name`), kept in the native ids         |
 * | RUNCTRL_HTCONDOR_POOL            | htcondor | collector host:port (`-pool`)                         |
 * | RUNCTRL_HTCONDOR_WALLTIME        | htcondor | `MaxRuntime` (default) or `JobFlavour` (CERN)         |
 * | RUNCTRL_LSF_QUEUE, RUNCTRL_LSF_PROJECT | lsf | default queue (KEKCC: `s`, `l`) and project            |
 * | RUNCTRL_PBS_FLAVOUR              | pbs      | `pbspro`, `torque` or `auto` (default)                |
 * | RUNCTRL_PBS_QUEUE, RUNCTRL_PBS_ACCOUNT | pbs | default queue and account                              |
 */
function siteEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function pickDefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function createBackend(name: string, opts: CreateBackendOptions): Backend {
  const common = { stateDir: opts.stateDir, ...(opts.env ? { env: opts.env } : {}) };
  const env = opts.env ?? process.env;
  switch (name) {
    case 'local': {
      const max = Number(siteEnv(env, 'RUNCTRL_LOCAL_MAX_RUNNING') ?? '');
      return new LocalBackend({
        ...(Number.isInteger(max) && max > 0 ? { maxRunning: max } : {}),
        ...opts.local,
        ...common,
      });
    }
    case 'slurm':
      return new SlurmBackend({ ...opts.slurm, ...common });
    case 'sge':
      return new SgeBackend({ ...opts.sge, ...common });
    case 'htcondor': {
      const walltime = siteEnv(env, 'RUNCTRL_HTCONDOR_WALLTIME');
      if (walltime !== undefined && walltime !== 'MaxRuntime' && walltime !== 'JobFlavour') {
        throw new UserError(`RUNCTRL_HTCONDOR_WALLTIME must be MaxRuntime or JobFlavour, not '${walltime}'`);
      }
      return new HTCondorBackend({
        ...pickDefined({
          schedd: siteEnv(env, 'RUNCTRL_HTCONDOR_SCHEDD'),
          pool: siteEnv(env, 'RUNCTRL_HTCONDOR_POOL'),
        }),
        ...(walltime ? { walltimeAttribute: walltime } : {}),
        ...common,
      });
    }
    case 'lsf':
      return new LsfBackend({
        ...pickDefined({
          queue: siteEnv(env, 'RUNCTRL_LSF_QUEUE'),
          project: siteEnv(env, 'RUNCTRL_LSF_PROJECT'),
        }),
        ...common,
      });
    case 'pbs': {
      const flavour = siteEnv(env, 'RUNCTRL_PBS_FLAVOUR');
      if (flavour !== undefined && flavour !== 'pbspro' && flavour !== 'torque' && flavour !== 'auto') {
        throw new UserError(`RUNCTRL_PBS_FLAVOUR must be pbspro, torque or auto, not '${flavour}'`);
      }
      return new PbsBackend({
        ...pickDefined({
          queue: siteEnv(env, 'RUNCTRL_PBS_QUEUE'),
          account: siteEnv(env, 'RUNCTRL_PBS_ACCOUNT'),
        }),
        ...(flavour ? { flavour } : {}),
        ...common,
      });
    }
    default:
      throw new UserError(`unknown backend '${name}': use one of ${BACKEND_NAMES.join(', ')}`);
  }
}
