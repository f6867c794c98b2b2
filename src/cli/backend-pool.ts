/** One backend instance per name for the life of the process; closed at the end. */
import { createBackend } from '../backends/index.js';
import type { Backend } from '../backends/types.js';
import type { Config } from '../config.js';

export function backendPool(
  config: Config,
  env: NodeJS.ProcessEnv,
): { get: (name: string) => Backend; close: () => Promise<void> } {
  const pool = new Map<string, Backend>();
  return {
    get: (name: string): Backend => {
      const have = pool.get(name);
      if (have) return have;
      const b = createBackend(name, { stateDir: config.stateDir, env });
      pool.set(name, b);
      return b;
    },
    close: async () => {
      await Promise.all([...pool.values()].map((b) => b.close()));
    },
  };
}
