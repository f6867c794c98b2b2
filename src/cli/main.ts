/**
 * The runctrl command line: yargs command modules that parse flags, call a use case in src/core and print
 * its result. `createCli` builds the parser without side effects, so tests can run commands in-process.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { PROJECT_ROOT } from '../config.js';
import { describeError, UsageError } from '../errors.js';
import type { GlobalArgs } from './context.js';
import type { CommandFactory } from './define.js';
import { processIo, terminalIo, type Io } from './io.js';
import { createCommand, deactivateCommand, listCommand, reactivateCommand } from './commands/campaigns.js';
import { rtypeCreateCommand, rtypeListCommand, rtypeUpdateCommand } from './commands/rtypes.js';
import { applyCommand, injectCommand, statusCommand } from './commands/runs.js';
import { extraCommands } from './commands/index.js';
import { serveCommand } from './commands/serve.js';
import { whyCommand } from './commands/why.js';
import { compactCommand } from './commands/compact.js';

/** For the bundle's launcher (src/cli/code-cache.ts). */
export { setImporter } from '../util/import-module.js';

export const COMMANDS: CommandFactory[] = [
  createCommand,
  listCommand,
  deactivateCommand,
  reactivateCommand,
  rtypeCreateCommand,
  rtypeUpdateCommand,
  rtypeListCommand,
  injectCommand,
  statusCommand,
  applyCommand,
  ...extraCommands,
  whyCommand,
  serveCommand,
  compactCommand,
];

export function createCli(argv: string[], io: Io = processIo): Argv<GlobalArgs> {
  let y = yargs(argv)
    .scriptName('runctrl')
    .usage(
      '$0 [--db DB] <command> [options]\n\nRun control and reprocessing campaigns, with state in InfluxDB.',
    )
    .option('db', { type: 'string', global: true, describe: 'InfluxDB database (env RUNCTRL_DB)' })
    .option('influx-url', {
      type: 'string',
      global: true,
      describe: 'InfluxDB URL (env RUNCTRL_INFLUXDB_URL; default http://127.0.0.1:8086)',
    })
    .option('influx-user', {
      type: 'string',
      global: true,
      describe:
        'InfluxDB user (env RUNCTRL_INFLUXDB_USER or ECAL_INFLUXDB_USER); password only from the environment',
    })
    .option('influx-timeout', {
      type: 'number',
      global: true,
      describe: 'request timeout in ms (env RUNCTRL_INFLUXDB_TIMEOUT)',
    })
    .option('run-source', {
      type: 'string',
      global: true,
      describe: 'run registry file (JSON/CSV) or OMS URL (env RUNCTRL_RUN_SOURCE)',
    })
    .option('state-dir', {
      type: 'string',
      global: true,
      describe:
        'local state: job files, locks, the local executor (env RUNCTRL_STATE_DIR; default $XDG_STATE_HOME/runctrl or ~/.local/state/runctrl)',
    })
    .option('verbose', {
      alias: 'v',
      type: 'boolean',
      global: true,
      describe: 'say more',
    }) as unknown as Argv<GlobalArgs>;
  for (const make of COMMANDS) y = y.command(make(io));
  return y
    .demandCommand(1, 'give a command: see runctrl --help')
    .strict()
    .recommendCommands()
    .completion('completion', 'print a bash/zsh completion script')
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .wrap(wantsHelp(argv) ? Math.min(110, process.stdout.columns || 110) : null)
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageError(msg);
    });
}

/** runctrl's version, from its package.json (yargs would look for it from its own location, not ours). */
function packageVersion(): string {
  try {
    const v = (
      JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: unknown }
    ).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Help is printed only for --help/-h (usage errors print one line). yargs lays the help text out at every
 * command anyway (to have it ready): without wrapping, that costs far less of the start-up.
 */
function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

/** Runs the CLI; resolves to the exit code. Errors print as one line (stack only for internal errors). */
export async function main(argv: string[], rawIo: Io = processIo): Promise<number> {
  const io = terminalIo(rawIo);
  try {
    const y = createCli(argv, io);
    await y.parseAsync(argv, {}, (_err, _argv, output) => {
      if (output) io.out(output);
    });
    return 0;
  } catch (err) {
    const { exitCode, text } = describeError(err);
    io.err(exitCode === 2 ? `${text}\n(see runctrl --help)` : text);
    return exitCode;
  }
}
