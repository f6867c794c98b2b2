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

export function createBackend(name: string, opts: CreateBackendOptions): Backend {
  const common = { stateDir: opts.stateDir, ...(opts.env ? { env: opts.env } : {}) };
  switch (name) {
    case 'local':
      return new LocalBackend({ ...opts.local, ...common });
    case 'slurm':
      return new SlurmBackend({ ...opts.slurm, ...common });
    case 'sge':
      return new SgeBackend({ ...opts.sge, ...common });
    case 'htcondor':
      return new HTCondorBackend(common);
    case 'lsf':
      return new LsfBackend(common);
    case 'pbs':
      return new PbsBackend(common);
    default:
      throw new UserError(`unknown backend '${name}': use one of ${BACKEND_NAMES.join(', ')}`);
  }
}
