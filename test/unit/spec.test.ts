import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import { diffSpec, parseSpec, type CampaignSpec } from '../../src/domain/spec.js';
import { UserError } from '../../src/errors.js';

const root = path.resolve(import.meta.dirname, '..', '..');

const base = {
  campaign: 'rereco_test',
  description: 'unit test',
  rtypes: {
    all: { filter: { global: true }, workflows: ['ecal-reco', 'timing-val'] },
    stable_beams: { filter: { global: true, stableBeams: true, minDuration: 600 }, workflows: ['pi0-mon'] },
  },
  workflows: {
    'ecal-reco': { command: 'echo reco {run} > {outdir}/r_{run}.txt' },
    'pi0-mon': { command: 'echo pi0 {run} {inputs}', depends_on: ['ecal-reco'], max_retries: 3 },
    'timing-val': { command: 'echo t {run}', depends_on: ['ecal-reco'] },
  },
};

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** The campaign the database would hold after applying a spec. */
function stored(spec: CampaignSpec, suspendAll = false): Campaign {
  return {
    name: spec.campaign,
    description: spec.description,
    createdAt: 1,
    rtypes: spec.rtypes
      .map((t) => ({
        name: t.name,
        filter: t.filter,
        workflows: suspendAll ? [] : [...t.workflows],
        suspended: suspendAll ? [...t.workflows] : [],
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    workflows: clone(spec.workflows).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

describe('parseSpec', () => {
  it('parses the shipped sample campaign', () => {
    const file = path.join(root, 'campaigns', 'rereco_2024.json');
    const spec = parseSpec(JSON.parse(readFileSync(file, 'utf8')), file);
    expect(spec.campaign).toBe('rereco_2024');
    expect(spec.rtypes.map((t) => t.name)).toEqual(['all', 'stable_beams']);
    expect(spec.workflows.map((w) => w.name).sort()).toEqual([
      'ecal-reco',
      'ic-combi',
      'pi0-mon',
      'timing-val',
    ]);
    expect(spec.workflows.find((w) => w.name === 'ic-combi')?.granularity).toEqual({ kind: 'era' });
    for (const w of spec.workflows) expect(w.backend).toBe('local');
  });

  it('fills defaults: backend local, max_retries 2, granularity run', () => {
    const spec = parseSpec(base, 'x.json');
    const reco = spec.workflows.find((w) => w.name === 'ecal-reco');
    expect(reco).toMatchObject({
      backend: 'local',
      maxRetries: 2,
      granularity: { kind: 'run' },
      dependsOn: [],
    });
    expect(spec.rtypes[1]).toEqual({
      name: 'stable_beams',
      filter: { global: true, stableBeams: true, minDuration: 600 },
      workflows: ['pi0-mon'],
    });
  });

  it.each<[string, (o: Record<string, unknown>) => void, RegExp]>([
    ['not an object', () => undefined, /the file must hold a JSON object/],
    [
      'unknown top-level key',
      (o) => (o.rtype = {}),
      /unknown key 'rtype' \(known: campaign, description, rtypes, workflows/,
    ],
    ['campaign missing', (o) => delete o.campaign, /'campaign' \(the campaign name\) is missing/],
    [
      'bad campaign name',
      (o) => (o.campaign = 'bad name!'),
      /invalid campaign name 'bad name!': use letters, digits/,
    ],
    ['no run types', (o) => (o.rtypes = {}), /define at least one run type under 'rtypes'/],
    [
      'undefined workflow in a run type',
      (o) => ((o.rtypes as Record<string, { workflows: string[] }>).all!.workflows = ['nope']),
      /run type 'all': workflow 'nope' is not defined under 'workflows'/,
    ],
    [
      'unknown placeholder',
      (o) =>
        ((o.workflows as Record<string, { command: string }>)['ecal-reco']!.command = 'echo {runnumber}'),
      /unknown placeholder \{runnumber\}/,
    ],
    [
      'unknown backend',
      (o) => ((o.workflows as Record<string, { backend?: string }>)['ecal-reco']!.backend = 'k8s'),
      /unknown backend 'k8s'/,
    ],
    [
      'unknown dependency',
      (o) =>
        ((o.workflows as Record<string, { depends_on?: string[] }>)['ecal-reco']!.depends_on = ['ghost']),
      /workflow 'ecal-reco' depends on unknown workflow 'ghost'/,
    ],
    [
      'bad filter',
      (o) => ((o.rtypes as Record<string, { filter: unknown }>).all!.filter = { global: 'yes' }),
      /run type 'all': filter 'global' must be true or false/,
    ],
    [
      'an unknown on_input_change',
      (o) =>
        ((o.workflows as Record<string, { on_input_change?: unknown }>)['pi0-mon']!.on_input_change =
          'rerun'),
      /workflow 'pi0-mon': 'on_input_change' must be "mark" or "reprocess" \(got "rerun"\)/,
    ],
    [
      'on_input_change "reprocess" without depends_on',
      (o) =>
        ((o.workflows as Record<string, { on_input_change?: unknown }>)['ecal-reco']!.on_input_change =
          'reprocess'),
      /workflow 'ecal-reco': 'on_input_change' "reprocess" needs 'depends_on'/,
    ],
  ])('refuses a file with %s', (name, change, re) => {
    const o = clone(base) as unknown as Record<string, unknown>;
    change(o);
    const raw = name === 'not an object' ? [o] : o;
    expect(() => parseSpec(raw, 'campaigns/x.json')).toThrow(UserError);
    expect(() => parseSpec(raw, 'campaigns/x.json')).toThrow(re);
  });

  it('reads on_input_change (absent: mark, left out of the stored definition)', () => {
    const o = clone(base) as unknown as { workflows: Record<string, { on_input_change?: string }> };
    o.workflows['pi0-mon']!.on_input_change = 'reprocess';
    o.workflows['timing-val']!.on_input_change = 'mark';
    const spec = parseSpec(o, 'x.json');
    const wf = (n: string) => spec.workflows.find((w) => w.name === n);
    expect(wf('pi0-mon')?.onInputChange).toBe('reprocess');
    expect(wf('timing-val')?.onInputChange).toBe('mark');
    expect(wf('ecal-reco')).not.toHaveProperty('onInputChange');
  });

  it('spells out a dependency cycle', () => {
    const o = clone(base) as unknown as { workflows: Record<string, { depends_on?: string[] }> };
    o.workflows['ecal-reco']!.depends_on = ['timing-val'];
    expect(() => parseSpec(o, 'campaigns/x.json')).toThrow(
      /dependency cycle ecal-reco -> timing-val -> ecal-reco: remove one of these depends_on entries/,
    );
    const o3 = clone(base) as unknown as {
      workflows: Record<string, { command: string; depends_on?: string[] }>;
    };
    o3.workflows['ecal-reco']!.depends_on = ['ic'];
    o3.workflows.ic = { command: 'echo', depends_on: ['pi0-mon'] };
    expect(() => parseSpec(o3, 'campaigns/x.json')).toThrow(
      /dependency cycle ecal-reco -> ic -> pi0-mon -> ecal-reco/,
    );
  });
});

describe('diffSpec', () => {
  const spec = parseSpec(base, 'x.json');

  it('creates everything for a new campaign', () => {
    const changes = diffSpec(spec, undefined);
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'create-campaign rereco_test',
      'add-rtype all',
      'add-rtype stable_beams',
      'add-workflow ecal-reco',
      'add-workflow pi0-mon',
      'add-workflow timing-val',
    ]);
  });

  it('is empty when the database already holds the spec (idempotent apply)', () => {
    expect(diffSpec(spec, stored(spec))).toEqual([]);
  });

  it('reports description, filter, workflow-list and workflow changes', () => {
    const next = clone(base);
    next.description = 'v2';
    next.rtypes.all.workflows = ['ecal-reco'];
    next.rtypes.stable_beams.filter.minDuration = 900;
    next.workflows['pi0-mon'].max_retries = 5;
    const changes = diffSpec(parseSpec(next, 'x.json'), stored(spec));
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'description rereco_test',
      'update-rtype all',
      'update-rtype stable_beams',
      'update-workflow pi0-mon',
    ]);
    expect(changes[0]?.detail).toBe("'unit test' -> 'v2'");
    expect(changes[2]?.detail).toMatch(/≥900s/);
  });

  it('removes run types and workflows no longer in the file', () => {
    const next = clone(base) as unknown as {
      rtypes: Record<string, unknown>;
      workflows: Record<string, unknown>;
    };
    delete next.rtypes.stable_beams;
    delete next.workflows['pi0-mon'];
    const changes = diffSpec(parseSpec(next, 'x.json'), stored(spec));
    expect(changes.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'remove-rtype stable_beams',
      'remove-workflow pi0-mon',
    ]);
  });

  it('keeps a deactivated campaign deactivated: the file’s lists become the suspended set', () => {
    expect(diffSpec(spec, stored(spec, true))).toEqual([]);
    const next = clone(base);
    next.rtypes.all.workflows = ['ecal-reco'];
    const changes = diffSpec(parseSpec(next, 'x.json'), stored(spec, true));
    expect(changes).toHaveLength(1);
    const ch = changes[0];
    expect(ch?.kind).toBe('update-rtype');
    if (ch?.kind === 'update-rtype')
      expect(ch.rtype).toMatchObject({ workflows: [], suspended: ['ecal-reco'] });
  });
});
