import type { RtypeView } from '../../core/rtypes.js';
import { parseFilterText, type RunFilter } from '../../domain/filter.js';
import { splitNames } from '../../domain/selectors.js';
import { contextFrom } from '../context.js';
import { campaignOption, defineCommand, jsonOption } from '../define.js';
import { json, table } from '../io.js';

const core = () => import('../../core/rtypes.js');

interface FilterFlags {
  filter?: string | undefined;
  global?: boolean | undefined;
  stableBeams?: boolean | undefined;
  runClass?: string | undefined;
  minDuration?: number | undefined;
  minLumi?: number | undefined;
  minEnergy?: number | undefined;
  maxEnergy?: number | undefined;
  magnet?: string | undefined;
  quality?: string | undefined;
  eras?: string | undefined;
}

function filterFrom(a: FilterFlags): RunFilter | undefined {
  const flagsGiven = [
    a.global,
    a.stableBeams,
    a.runClass,
    a.minDuration,
    a.minLumi,
    a.minEnergy,
    a.maxEnergy,
    a.magnet,
    a.quality,
    a.eras,
  ].some((v) => v !== undefined);
  if (a.filter === undefined && !flagsGiven) return undefined;
  const parts: string[] = [];
  if (a.global !== undefined) parts.push(`global=${a.global}`);
  if (a.stableBeams !== undefined) parts.push(`stableBeams=${a.stableBeams}`);
  if (a.runClass !== undefined) parts.push(`runClass=${a.runClass.replace(/,/g, '|')}`);
  if (a.minDuration !== undefined) parts.push(`minDuration=${a.minDuration}`);
  if (a.minLumi !== undefined) parts.push(`minLumi=${a.minLumi}`);
  if (a.minEnergy !== undefined) parts.push(`minBeamEnergy=${a.minEnergy}`);
  if (a.maxEnergy !== undefined) parts.push(`maxBeamEnergy=${a.maxEnergy}`);
  if (a.magnet !== undefined) parts.push(`magnet=${a.magnet}`);
  if (a.quality !== undefined) parts.push(`quality=${a.quality.replace(/,/g, '|')}`);
  if (a.eras !== undefined) parts.push(`eras=${a.eras.replace(/,/g, '|')}`);
  const base = a.filter !== undefined ? parseFilterText(a.filter) : {};
  return { ...base, ...(parts.length ? parseFilterText(parts.join(',')) : {}) };
}

function filterOptions<T>(y: import('yargs').Argv<T>) {
  return y
    .option('filter', {
      type: 'string',
      describe:
        'filter as JSON or key=value,… (global, stableBeams, runClass, minDuration, minLumi, minBeamEnergy, maxBeamEnergy, magnet, quality, eras)',
    })
    .option('global', { type: 'boolean', describe: 'global runs only (--no-global: local runs only)' })
    .option('stable-beams', { type: 'boolean', describe: 'runs with LHC stable beams' })
    .option('run-class', { type: 'string', describe: 'run classes, comma-separated (e.g. Collisions24)' })
    .option('min-duration', { type: 'number', describe: 'minimum run duration in seconds' })
    .option('min-lumi', { type: 'number', describe: 'minimum recorded luminosity in /pb' })
    .option('min-energy', { type: 'number', describe: 'minimum beam energy in GeV' })
    .option('max-energy', { type: 'number', describe: 'maximum beam energy in GeV' })
    .option('magnet', { type: 'string', choices: ['on', 'off'], describe: 'solenoid on or off' })
    .option('quality', {
      type: 'string',
      describe: 'quality flags that must be good, comma-separated (e.g. ecal,tracker)',
    })
    .option('eras', { type: 'string', describe: 'eras, comma-separated' });
}

function printRtypes(rows: RtypeView[]): string {
  return table(
    ['run type', 'filter', 'active workflows', 'suspended'],
    rows.map((r) => [r.rtype, r.filterText, r.workflows.join(' ') || '-', r.suspended.join(' ') || '-']),
  );
}

export const rtypeCreateCommand = defineCommand({
  command: 'rtype-create',
  describe: 'create a run type: a run filter and a list of active workflows',
  builder: (y) =>
    filterOptions(campaignOption(jsonOption(y)))
      .option('type', { alias: 't', type: 'string', demandOption: true, describe: 'run type name' })
      .option('workflows', {
        alias: 'w',
        type: 'array',
        string: true,
        describe: 'initial active workflows (space- or comma-separated)',
      })
      .example(
        '$0 --db ecal_prompt_v1 rtype-create --campaign prompt --type stable_beams --global --stable-beams --min-duration 600',
        '',
      )
      .example(
        "$0 --db ecal_prompt_v1 rtype-create --campaign prompt --type cosmics --filter 'runClass=Cosmics24,magnet=on'",
        '',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const r = await (
      await core()
    ).rtypeCreate(ctx, {
      campaign: a.campaign,
      rtype: a.type,
      filter: filterFrom(a) ?? {},
      workflows: splitNames(a.workflows),
    });
    if (a.json) io.out(json(r));
    else io.out(`created run type '${r.rtype}' in campaign '${r.campaign}'\n${printRtypes([r])}`);
  },
});

export const rtypeUpdateCommand = defineCommand({
  command: 'rtype-update',
  describe: 'add or remove active workflows of a run type (or change its filter)',
  builder: (y) =>
    filterOptions(campaignOption(jsonOption(y)))
      .option('type', { alias: 't', type: 'string', demandOption: true, describe: 'run type name' })
      .option('add', {
        type: 'array',
        string: true,
        describe: 'workflows to add (space- or comma-separated)',
      })
      .option('remove', {
        type: 'array',
        string: true,
        describe: 'workflows to remove (comma- or space-separated)',
      })
      .example(
        "$0 --db 'db_name' rtype-update --campaign 'test_rereco' --add workflow1 workflow2 workflow3 --type=all",
        'add three workflows',
      )
      .example(
        "$0 --db 'db_name' rtype-update --campaign 'campaign_name' --remove task1,task2,task3 --type all",
        'remove three',
      ),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const filter = filterFrom(a);
    const r = await (
      await core()
    ).rtypeUpdate(ctx, {
      campaign: a.campaign,
      rtype: a.type,
      add: splitNames(a.add),
      remove: splitNames(a.remove),
      ...(filter ? { filter } : {}),
    });
    if (a.json) return io.out(json(r));
    const what = [
      r.added.length ? `added ${r.added.join(' ')}` : '',
      r.removed.length ? `removed ${r.removed.join(' ')}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    io.out(`run type '${r.rtype}' of campaign '${r.campaign}': ${what || 'updated'}\n${printRtypes([r])}`);
  },
});

export const rtypeListCommand = defineCommand({
  command: 'rtype-list',
  describe: 'list the run types of a campaign with their filters and active workflows',
  builder: (y) =>
    campaignOption(jsonOption(y)).example("$0 --db 'db_name' rtype-list --campaign 'campaign_name'", ''),
  handler: async (a, io) => {
    const { ctx } = await contextFrom(a, io);
    const rows = await (await core()).rtypeList(ctx, { campaign: a.campaign });
    io.out(a.json ? json(rows) : printRtypes(rows));
  },
});
