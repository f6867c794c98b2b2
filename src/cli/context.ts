/**
 * Builds the use-case context from the global options (flags > environment > .env > defaults). The store and
 * the run sources are imported only here, when a command runs (`--help` and completion never load them).
 */
import { redactedConfig, resolveConfig, type Config, type ConfigFlags } from '../config.js';
import type { Ctx } from '../core/context.js';
import { UserError } from '../errors.js';
import type { RunSource } from '../sources/source.js';
import type { Store } from '../store/store.js';
import type { Io } from './io.js';

/** The global flags are exactly the settings that have a flag (src/config.ts). */
export type GlobalArgs = ConfigFlags;

export function configFrom(argv: GlobalArgs, io: Io): Config {
  return resolveConfig(argv, io.env, io.cwd);
}

export async function storeFrom(config: Config): Promise<Store> {
  if (!config.db) {
    throw new UserError('no database given: pass --db NAME (before or after the command) or set RUNCTRL_DB', {
      exitCode: 2,
    });
  }
  const { Store } = await import('../store/store.js');
  return Store.open({
    url: config.influxUrl,
    db: config.db,
    user: config.user,
    password: config.password,
    token: config.token,
    timeoutMs: config.timeoutMs,
  });
}

export async function contextFrom(argv: GlobalArgs, io: Io): Promise<{ ctx: Ctx; config: Config }> {
  const config = configFrom(argv, io);
  if (config.verbose) io.err(`runctrl: settings ${JSON.stringify(redactedConfig(config))}`);
  const [store, { openRunSource }] = await Promise.all([storeFrom(config), import('../sources/index.js')]);
  store.onMalformed = (line) => io.err(line);
  let source: RunSource | undefined;
  return {
    config,
    ctx: {
      store,
      source: () => (source ??= openRunSource(config.runSource, { cwd: io.cwd, env: config.oms })),
    },
  };
}
