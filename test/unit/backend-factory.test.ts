import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createBackend } from '../../src/backends/index.js';
import { UserError } from '../../src/errors.js';

describe('createBackend', () => {
  it('makes every backend the workflows may name', async () => {
    for (const name of BACKEND_NAMES) {
      const b = createBackend(name, {
        stateDir: '/tmp/runctrl-factory-test',
        env: { PATH: '/usr/bin:/bin' },
      });
      expect(b.name).toBe(name);
      await b.close();
      await b.close(); // idempotent
    }
  });

  it('refuses unknown backends and bad site settings with a user error', () => {
    expect(() => createBackend('condor', { stateDir: '/tmp/x' })).toThrow(
      /unknown backend 'condor': use one of local, slurm/,
    );
    expect(() =>
      createBackend('pbs', { stateDir: '/tmp/x', env: { RUNCTRL_PBS_FLAVOUR: 'openpbs' } }),
    ).toThrow(UserError);
    expect(() =>
      createBackend('htcondor', { stateDir: '/tmp/x', env: { RUNCTRL_HTCONDOR_WALLTIME: 'hours' } }),
    ).toThrow(/MaxRuntime or JobFlavour/);
  });
});
