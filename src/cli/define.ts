/** Helper to declare a yargs command module whose handler gets typed arguments and the Io. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { GlobalArgs } from './context.js';
import type { Io } from './io.js';

export interface CommandDef<U> {
  command: string | string[];
  describe: string;
  builder: (y: Argv<GlobalArgs>) => Argv<U>;
  handler: (argv: ArgumentsCamelCase<U>, io: Io) => Promise<void>;
}

export type CommandFactory = (io: Io) => CommandModule<GlobalArgs, unknown>;

export function defineCommand<U>(def: CommandDef<U>): CommandFactory {
  return (io) =>
    ({
      command: def.command,
      describe: def.describe,
      builder: def.builder,
      handler: (argv: ArgumentsCamelCase<U>) => def.handler(argv, io),
    }) as CommandModule<GlobalArgs, unknown>;
}

/** Shared option: --campaign / -c. */
export function campaignOption<T>(y: Argv<T>) {
  return y.option('campaign', { alias: 'c', type: 'string', demandOption: true, describe: 'campaign name' });
}

export function jsonOption<T>(y: Argv<T>) {
  return y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' });
}

/** --runs / --range / --era / --runlist, mutually exclusive. */
export function runSelectorOptions<T>(y: Argv<T>) {
  return y
    .option('runs', { type: 'string', describe: 'comma-separated run numbers, e.g. 386642,386643' })
    .option('range', { type: 'string', describe: 'inclusive run range min,max' })
    .option('era', { type: 'string', describe: 'all runs of a data-acquisition era, e.g. Run2024C' })
    .option('runlist', { type: 'string', describe: 'file with one run per line (# comments)' })
    .conflicts('runs', ['range', 'era', 'runlist'])
    .conflicts('range', ['era', 'runlist'])
    .conflicts('era', 'runlist');
}
