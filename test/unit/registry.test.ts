import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE_REGISTRY } from '../../src/config.js';
import type { RunInfo } from '../../src/domain/run.js';
import { UserError } from '../../src/errors.js';
import { openRunSource, parseEraList } from '../../src/sources/index.js';
import { OmsSource } from '../../src/sources/oms.js';
import {
  fastRunInfo,
  parseCsv,
  parseQuality,
  parseRegistry,
  RegistrySource,
  registryFormatOf,
  toUnixSeconds,
} from '../../src/sources/registry.js';

const SAMPLE_CSV = SAMPLE_REGISTRY.replace(/\.json$/, '.csv');
const ERAS_2024 = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'].map((x) => `Run2024${x}`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'runctrl-registry-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** The UserError a registry text gives when loaded. */
async function loadError(name: string, text: string): Promise<UserError> {
  const err: unknown = await new RegistrySource(file(name, text)).fetch({}).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UserError);
  return err as UserError;
}

const base = { era: 'Run2024C', startTime: 1713000000 };

function at(runs: RunInfo[], i: number): RunInfo {
  const r = runs[i];
  if (!r) throw new Error(`no run at ${i}`);
  return r;
}

describe('the bundled sample registry (JSON)', () => {
  const src = new RegistrySource(SAMPLE_REGISTRY);

  it('loads about 3000 valid runs, sorted, across Run2024A…I', async () => {
    const all = await src.fetch({});
    expect(all.length).toBeGreaterThan(2500);
    expect(all.length).toBeLessThan(3500);
    expect(all.every((r, i) => i === 0 || r.run > (all[i - 1]?.run ?? 0))).toBe(true);
    expect(all[0]?.run).toBeGreaterThanOrEqual(378000);
    expect(all[all.length - 1]?.run).toBeLessThan(387000);
    expect(await src.eras()).toEqual(ERAS_2024);
    expect(src.describe).toBe(`registry ${SAMPLE_REGISTRY}`);
  });

  it('looks like CMS data taking', async () => {
    const all = await src.fetch({});
    const share = (f: (r: RunInfo) => boolean): number => all.filter(f).length / all.length;
    expect(share((r) => r.global)).toBeGreaterThan(0.6);
    expect(share((r) => r.global)).toBeLessThan(0.8);
    expect(share((r) => r.stableBeams)).toBeGreaterThan(0.1);
    expect(share((r) => r.stableBeams)).toBeLessThan(0.5);
    for (const r of all.filter((x) => x.stableBeams)) {
      expect(r.beamEnergy).toBe(6800);
      expect(r.runClass).toBe('Collisions24');
    }
    expect(new Set(all.map((r) => r.runClass))).toEqual(
      new Set(['Collisions24', 'Cosmics24', 'Commissioning24']),
    );
    const on = all.filter((r) => r.magnetCurrent > 1000);
    expect(on.every((r) => Math.abs(r.magnetCurrent - 18164) < 10)).toBe(true);
    expect(all.filter((r) => r.magnetCurrent <= 1000).every((r) => r.magnetCurrent < 10)).toBe(true);
    const durations = all.filter((r) => r.endTime !== null).map((r) => (r.endTime ?? 0) - r.startTime);
    expect(Math.min(...durations)).toBeLessThan(60);
    expect(Math.max(...durations)).toBeGreaterThan(10 * 3600);
    expect(all.every((r) => r.recordedLumi <= r.deliveredLumi)).toBe(true);
    expect(all.filter((r) => r.endTime === null).map((r) => r.run)).toEqual([all[all.length - 1]?.run]);
    expect(Object.keys(all.find((r) => r.global)?.quality ?? {}).sort()).toEqual([
      'ecal',
      'hcal',
      'muon',
      'tracker',
    ]);
    // Fills and start times never go back as run numbers grow.
    for (let i = 1; i < all.length; i++) {
      const [a, b] = [all[i - 1], all[i]];
      expect((b?.fill ?? 0) >= (a?.fill ?? 0) && (b?.startTime ?? 0) >= (a?.startTime ?? 0)).toBe(true);
    }
  });

  it('answers run lists sorted, leaving out runs it does not know', async () => {
    const all = await src.fetch({});
    const [a, b, c] = [at(all, 10), at(all, 500), at(all, 2000)];
    const got = await src.fetch({ runs: [c.run, 1, a.run, b.run, a.run, 999_999] });
    expect(got.map((r) => r.run)).toEqual([a.run, b.run, c.run]);
    expect(got[0]).toEqual(a);
    expect(await src.fetch({ runs: [] })).toEqual([]);
  });

  it('answers inclusive ranges, eras, "after", and their combination', async () => {
    const all = await src.fetch({});
    const lo = all[100]?.run ?? 0;
    const hi = all[199]?.run ?? 0;
    const range = await src.fetch({ range: { min: lo, max: hi } });
    expect(range.map((r) => r.run)).toEqual(all.slice(100, 200).map((r) => r.run));
    const eraC = await src.fetch({ era: 'Run2024C' });
    expect(eraC.length).toBe(all.filter((r) => r.era === 'Run2024C').length);
    expect(eraC.length).toBeGreaterThan(100);
    const after = await src.fetch({ after: all[all.length - 5]?.run ?? 0 });
    expect(after.map((r) => r.run)).toEqual(all.slice(-4).map((r) => r.run));
    expect(await src.fetch({ after: all[all.length - 1]?.run ?? 0 })).toEqual([]);
    const both = await src.fetch({
      era: 'Run2024C',
      after: eraC[9]?.run ?? 0,
      range: { min: 0 + lo, max: 999_999 },
    });
    expect(both.map((r) => r.run)).toEqual(eraC.slice(10).map((r) => r.run));
    expect(await src.fetch({ era: 'Run2030Z' })).toEqual([]);
    expect(await src.fetch({ runs: [all[0]?.run ?? 0], era: 'Run2024I' })).toEqual([]);
  });

  it('gives copies, so callers cannot change what it holds', async () => {
    const [first] = await src.fetch({ range: { min: 1, max: 378_100 } });
    if (!first) throw new Error('no run');
    first.quality.ecal = false;
    first.era = 'changed';
    const [again] = await src.fetch({ runs: [first.run] });
    expect(again?.era).not.toBe('changed');
    expect(again?.quality).not.toEqual(first.quality);
  });

  it('rejects impossible queries', async () => {
    await expect(src.fetch({ range: { min: 10, max: 5 } })).rejects.toThrow(/first run is above the last/);
    await expect(src.fetch({ runs: [1.5] })).rejects.toThrow(/invalid run number/);
    await expect(src.fetch({ era: ' ' })).rejects.toThrow(/empty era/);
  });
});

describe('the CSV sample', () => {
  it('holds the same runs as the JSON sample, with quality flags', async () => {
    const csv = new RegistrySource(SAMPLE_CSV);
    const runs = await csv.fetch({});
    expect(runs.length).toBeGreaterThanOrEqual(40);
    expect(runs.length).toBeLessThanOrEqual(60);
    const json = await new RegistrySource(SAMPLE_REGISTRY).fetch({ runs: runs.map((r) => r.run) });
    expect(runs).toEqual(json);
    expect(runs.some((r) => Object.values(r.quality).includes(false))).toBe(true);
    expect(await csv.eras()).toEqual(ERAS_2024);
  });
});

describe('registry formats', () => {
  it('reads snake_case JSON wrapped in { runs }, ISO and numeric times, string booleans', async () => {
    const p = file(
      'snake.json',
      JSON.stringify({
        runs: [
          {
            run_number: 12,
            fill_number: 7,
            era: 'Run2025B',
            start_time: '2025-05-01T10:00:00Z',
            end_time: '2025-05-01 11:30:00',
            global: 'true',
            stable_beam: true,
            run_class: 'Collisions25',
            delivered_lumi: 10.5,
            recorded_lumi: 10,
            beam_energy: 6800,
            magnet_current: 18164,
            quality: 'ecal:good;tracker:bad',
            comment: 'unknown keys are ignored',
          },
          {
            run: 11,
            era: 'Run2025A',
            startTime: 1746000000,
            endTime: null,
            quality: { hcal: 'good', muon: false },
          },
        ],
      }),
    );
    const runs = await new RegistrySource(p).fetch({});
    expect(runs).toEqual([
      {
        run: 11,
        fill: 0,
        era: 'Run2025A',
        startTime: 1746000000,
        endTime: null,
        global: false,
        stableBeams: false,
        runClass: '',
        deliveredLumi: 0,
        recordedLumi: 0,
        beamEnergy: 0,
        magnetCurrent: 0,
        quality: { hcal: true, muon: false },
      },
      {
        run: 12,
        fill: 7,
        era: 'Run2025B',
        startTime: Date.UTC(2025, 4, 1, 10) / 1000,
        endTime: Date.UTC(2025, 4, 1, 11, 30) / 1000,
        global: true,
        stableBeams: true,
        runClass: 'Collisions25',
        deliveredLumi: 10.5,
        recordedLumi: 10,
        beamEnergy: 6800,
        magnetCurrent: 18164,
        quality: { ecal: true, tracker: false },
      },
    ]);
  });

  it('reads CSV with quoting, CRLF, comments, blank lines and empty cells', async () => {
    const p = file(
      'quoted.csv',
      [
        '\ufeffrun,era,startTime,endTime,global,runClass,quality,note',
        '# a comment',
        '5,Run2025A,1746000000,,1,"Cosmics25","ecal:good; hcal:bad","a, ""quoted"" note"',
        '',
        '4,Run2025A,2025-04-30T00:00:00+02:00,1746000100,no,Commissioning25,,',
      ].join('\r\n'),
    );
    const runs = await new RegistrySource(p).fetch({});
    expect(runs.map((r) => [r.run, r.startTime, r.endTime, r.global, r.runClass, r.quality])).toEqual([
      [4, Date.UTC(2025, 3, 29, 22) / 1000, 1746000100, false, 'Commissioning25', {}],
      [5, 1746000000, null, true, 'Cosmics25', { ecal: true, hcal: false }],
    ]);
    expect(parseCsv('a,"b\nc",d\ne,f,g\n', 'x.csv')).toEqual([
      { line: 1, cells: ['a', 'b\nc', 'd'] },
      { line: 3, cells: ['e', 'f', 'g'] },
    ]);
  });

  it('loads lazily and once', async () => {
    const p = file('lazy.json', JSON.stringify([{ run: 1, ...base }]));
    const src = new RegistrySource(p);
    writeFileSync(p, JSON.stringify([{ run: 2, ...base }])); // not read yet: the new content counts
    expect((await src.fetch({})).map((r) => r.run)).toEqual([2]);
    writeFileSync(p, 'garbage'); // already loaded: answered from memory
    expect((await src.fetch({})).map((r) => r.run)).toEqual([2]);
    expect(await src.eras()).toEqual(['Run2024C']);
  });

  it('chooses the format by extension', () => {
    expect(registryFormatOf('a/b.JSON')).toBe('json');
    expect(registryFormatOf('b.csv')).toBe('csv');
    expect(() => registryFormatOf('runs.txt')).toThrow(/unknown extension '.txt'.*\.json or \.csv/);
  });

  it('parses times, quality and era lists', () => {
    expect(toUnixSeconds(1700000000.9)).toBe(1700000000);
    expect(toUnixSeconds('1700000000')).toBe(1700000000);
    expect(toUnixSeconds('2024-01-01T00:00:00')).toBe(Date.UTC(2024, 0, 1) / 1000);
    expect(toUnixSeconds(1700000000000)).toMatch(/milliseconds/);
    expect(toUnixSeconds('yesterday')).toMatch(/ISO 8601/);
    expect(parseQuality('ecal:1|tracker:false')).toEqual({ ecal: true, tracker: false });
    expect(parseQuality('ecal')).toMatch(/subsystem:good/);
    expect(parseEraList('Run2024A=1-10, Run2024B=11-, Run2024C', 'X')).toEqual([
      { name: 'Run2024A', firstRun: 1, lastRun: 10 },
      { name: 'Run2024B', firstRun: 11 },
      { name: 'Run2024C' },
    ]);
    expect(() => parseEraList('Run2024A=10-1', 'X')).toThrow(/ends before it starts/);
  });
});

describe('registry validation', () => {
  it('names the file, the record and the field', async () => {
    const p = 'bad-time.json';
    const err = await loadError(
      p,
      JSON.stringify([
        { run: 1, ...base },
        { run: 2, era: 'X', startTime: 'soon' },
      ]),
    );
    expect(err.message).toBe(
      `${path.join(tmp, p)}: record #2 (run 2): field 'startTime': expected Unix seconds or an ISO 8601 time such as 2024-05-01T12:00:00Z, got 'soon'`,
    );
  });

  it('reports missing, mistyped and contradictory fields', async () => {
    expect((await loadError('m1.json', JSON.stringify([{ era: 'X', startTime: 1 }]))).message).toMatch(
      /record #1: field 'run' or 'run_number' or 'runNumber': missing/,
    );
    expect((await loadError('m2.json', JSON.stringify([{ run: 3, startTime: 1 }]))).message).toMatch(
      /record #1 \(run 3\): field 'era': missing/,
    );
    expect((await loadError('m3.json', JSON.stringify([{ run: -3, ...base }]))).message).toMatch(
      /field 'run': expected an integer ≥ 1, got -3/,
    );
    expect(
      (await loadError('m4.json', JSON.stringify([{ run: 3, ...base, global: 'maybe' }]))).message,
    ).toMatch(/field 'global': expected true or false, got 'maybe'/);
    expect(
      (await loadError('m5.json', JSON.stringify([{ run: 3, ...base, recordedLumi: -1 }]))).message,
    ).toMatch(/field 'recordedLumi': expected a non-negative number/);
    expect((await loadError('m6.json', JSON.stringify([{ run: 3, ...base, endTime: 5 }]))).message).toMatch(
      /field 'endTime': the run ends \(5\) before it starts/,
    );
    expect(
      (await loadError('m7.json', JSON.stringify([{ run: 3, run_number: 4, ...base }]))).message,
    ).toMatch(/field 'run_number': given twice \(also as 'run'\)/);
    expect(
      (await loadError('m8.json', JSON.stringify([{ run: 3, ...base, quality: 'ecal=so-so' }]))).message,
    ).toMatch(/field 'quality': expected 'subsystem:good'/);
    expect((await loadError('m9.json', JSON.stringify([{ run: 3, ...base, era: 7 }]))).message).toMatch(
      /field 'era': expected a string, got 7/,
    );
    expect((await loadError('m10.json', JSON.stringify([5]))).message).toMatch(
      /record #1: expected an object, got 5/,
    );
    expect((await loadError('m11.json', JSON.stringify({ rows: [] }))).message).toMatch(
      /expected a JSON array of runs/,
    );
  });

  it('reads canonical JSON records on a fast path that gives what the full path gives', async () => {
    const good: Record<string, unknown>[] = [
      { run: 1, ...base },
      { run: 2, ...base, era: '  Run2024D ', startTime: 1713000000.7, endTime: 1713000001.2, fill: 0 },
      { run: 3, ...base, endTime: null, fill: null, runClass: null, global: null, quality: null },
      { run: 4, ...base, global: true, stableBeams: false, runClass: ' Collisions24 ', other: 'x' },
      { run: 5, ...base, deliveredLumi: 0.5, recordedLumi: -0, beamEnergy: 6800, magnetCurrent: 18164 },
      { run: 6, ...base, quality: { ecal: true, hcal: false }, runClass: '   ', fill: 9000 },
    ];
    // an empty alias is absent for the full path, but sends the record there
    const viaFullPath = good.map((r) => ({ ...r, class: '' }));
    for (const r of good) expect(fastRunInfo(r)).toBeDefined();
    for (const r of viaFullPath) expect(fastRunInfo(r)).toBeUndefined();
    const fast = parseRegistry(JSON.stringify(good), 'json', 'f.json');
    expect(fast).toEqual(parseRegistry(JSON.stringify(viaFullPath), 'json', 'f.json'));
    expect(fast.map((r) => Object.keys(r))).toEqual(
      parseRegistry(JSON.stringify(viaFullPath), 'json', 'f.json').map((r) => Object.keys(r)),
    );
    // values of another JSON type, or invalid ones, leave the fast path: same results and errors as before
    for (const odd of [
      { run: '7', ...base },
      { run: 7, ...base, startTime: '2024-05-01T12:00:00Z', global: 'yes', quality: 'ecal:good' },
      { run: 7, ...base, endTime: '' },
      { run: 7, ...base, fill: '3', recordedLumi: '1.5', stableBeams: 1 },
    ]) {
      expect(fastRunInfo(odd)).toBeUndefined();
      expect(parseRegistry(JSON.stringify([odd]), 'json', 'f.json')).toEqual(
        parseRegistry(JSON.stringify([{ ...odd, class: '' }]), 'json', 'f.json'),
      );
    }
    for (const bad of [{ run: 0 }, { run: 7, startTime: 2e11 }, { run: 7, endTime: 1 }, { run: 7, era: ' ' }])
      expect(fastRunInfo({ ...base, ...bad })).toBeUndefined();
  });

  it('rejects duplicate run numbers', async () => {
    const text = JSON.stringify([
      { run: 8, ...base },
      { run: 9, ...base },
      { run_number: 8, ...base },
    ]);
    expect((await loadError('dup.json', text)).message).toMatch(
      /record #3 \(run 8\): run 8 appears twice \(first at record #1\)/,
    );
    const csv = 'run,era,start_time\n8,A,1\n9,A,1\n8,A,2\n';
    expect((await loadError('dup.csv', csv)).message).toMatch(
      /dup\.csv:4 \(run 8\): run 8 appears twice \(first at line 2\)/,
    );
  });

  it('gives the line of a JSON syntax error and of a bad CSV row', async () => {
    const err = await loadError(
      'syntax.json',
      '[\n{"run": 1, "era": "A", "startTime": 1},\n{"run": 2,, }\n]\n',
    );
    expect(err.message).toMatch(/syntax\.json:3: not valid JSON/);
    expect((await loadError('cells.csv', 'run,era,start_time\n1,A,1\n2,A\n')).message).toMatch(
      /cells\.csv:3: 2 cells, but the header names 3 columns/,
    );
    expect((await loadError('csvfield.csv', 'run_number,era,start_time\n1,A,1\n2,A,noon\n')).message).toMatch(
      /csvfield\.csv:3 \(run 2\): field 'start_time': expected Unix seconds/,
    );
    expect((await loadError('nohead.csv', '1,A,1\n')).message).toMatch(/header has no run column/);
    expect((await loadError('open.csv', 'run,era,start_time\n1,"A,1\n')).message).toMatch(
      /open\.csv:2: a quoted cell/,
    );
    expect(parseRegistry('', 'csv', 'empty.csv')).toEqual([]);
  });
});

describe('openRunSource', () => {
  it('opens registry files relative to the working directory', async () => {
    file('rel.csv', 'run,era,start_time\n1,A,1\n');
    const src = openRunSource('rel.csv', { cwd: tmp });
    expect(src).toBeInstanceOf(RegistrySource);
    expect(src.describe).toBe('registry rel.csv');
    expect((await src.fetch({ runs: [1] })).map((r) => r.run)).toEqual([1]);
    expect(openRunSource(SAMPLE_REGISTRY).describe).toBe(`registry ${SAMPLE_REGISTRY}`);
  });

  it('says which file is missing and how to fix it', () => {
    expect(() => openRunSource('no/such.json', { cwd: tmp })).toThrow(UserError);
    expect(() => openRunSource('no/such.json', { cwd: tmp })).toThrow(
      new RegExp(
        `run source file 'no/such.json' does not exist \\(looked at ${tmp}/no/such.json\\).*--run-source or RUNCTRL_RUN_SOURCE`,
      ),
    );
    expect(() => openRunSource(tmp)).toThrow(/is a directory/);
    file('runs.txt', '');
    expect(() => openRunSource('runs.txt', { cwd: tmp })).toThrow(/unknown extension/);
    expect(() => openRunSource('  ')).toThrow(/no run source given/);
    expect(() => openRunSource('ftp://host/runs.json')).toThrow(/unsupported run source/);
  });

  it('opens OMS for oms: specs and http(s) URLs, reading the token from the environment', async () => {
    const env = {
      RUNCTRL_OMS_TOKEN: 'sekret',
      RUNCTRL_OMS_ERAS: 'Run2024B=378981-379410,Run2024A=378000-378980',
    };
    const a = openRunSource('oms:https://cmsoms.cern.ch/agg/api/v1/runs', { env });
    expect(a).toBeInstanceOf(OmsSource);
    expect(a.describe).toBe('oms https://cmsoms.cern.ch/agg/api/v1');
    expect(a.describe).not.toContain('sekret');
    expect(await a.eras()).toEqual(['Run2024A', 'Run2024B']);
    await a.close?.();
    const b = openRunSource('http://127.0.0.1:1/agg/api/v1/', { env: {} });
    expect(b.describe).toBe('oms http://127.0.0.1:1/agg/api/v1');
    await b.close?.();
    const c = openRunSource('oms', { env: {} });
    expect(c.describe).toBe('oms https://cmsoms.cern.ch/agg/api/v1');
    await c.close?.();
    expect(() => openRunSource('oms:cmsoms.cern.ch', { env: {} })).toThrow(/write it as oms:https/);
    expect(() => openRunSource('https://user:pw@cmsoms.cern.ch/agg/api/v1', { env: {} })).toThrow(
      /no credentials in the OMS URL/,
    );
    // A file whose name starts with "oms" is still a file.
    file('oms-runs.json', '[]');
    expect(openRunSource('oms-runs.json', { cwd: tmp })).toBeInstanceOf(RegistrySource);
  });
});
