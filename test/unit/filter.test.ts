import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FILTER,
  describeFilter,
  matches,
  parseFilter,
  parseFilterText,
  type RunFilter,
} from '../../src/domain/filter.js';
import type { RunInfo } from '../../src/domain/run.js';
import { UserError } from '../../src/errors.js';
import { makeRun } from '../helpers/fixtures.js';

describe('matches', () => {
  const run = makeRun(380100);

  it('the default filter of run type "all" rejects non-global runs', () => {
    expect(matches(DEFAULT_FILTER, run)).toBe(true);
    expect(matches(DEFAULT_FILTER, { ...run, global: false })).toBe(false);
  });

  it('an empty filter matches any run', () => {
    expect(matches({}, { ...run, global: false, stableBeams: false })).toBe(true);
  });

  const off = { ...run, magnetCurrent: 0.4 };
  it.each<[string, RunFilter, RunInfo, Partial<RunInfo>]>([
    ['stableBeams', { stableBeams: true }, run, { stableBeams: false }],
    ['runClass', { runClass: ['Collisions24', 'Collisions25'] }, run, { runClass: 'Cosmics24' }],
    ['minDuration', { minDuration: 3600 }, run, { endTime: run.startTime + 3599 }],
    ['minDuration (ongoing run)', { minDuration: 1 }, run, { endTime: null }],
    ['minLumi', { minLumi: 11.9 }, run, { recordedLumi: 11.8 }],
    ['minBeamEnergy', { minBeamEnergy: 6800 }, run, { beamEnergy: 450 }],
    ['maxBeamEnergy', { maxBeamEnergy: 6800 }, run, { beamEnergy: 6800.5 }],
    ['magnet on', { magnet: 'on' }, run, { magnetCurrent: 3 }],
    ['magnet off', { magnet: 'off' }, off, { magnetCurrent: 18164 }],
    ['quality', { quality: ['ecal', 'tracker'] }, run, { quality: { ecal: true, tracker: false } }],
    ['quality (flag absent)', { quality: ['ecal'] }, run, { quality: { tracker: true } }],
    ['eras', { eras: ['Run2024C', 'Run2024D'] }, run, { era: 'Run2024E' }],
  ])('%s: matches one run and rejects the changed one', (_name, f, base, change) => {
    expect(matches(f, base)).toBe(true);
    expect(matches(f, { ...base, ...change })).toBe(false);
  });

  it('combines criteria with AND', () => {
    const f = { global: true, stableBeams: true, minDuration: 600, quality: ['ecal'] };
    expect(matches(f, run)).toBe(true);
    expect(matches(f, { ...run, quality: { ecal: false } })).toBe(false);
    expect(matches(f, { ...run, endTime: run.startTime + 599 })).toBe(false);
  });
});

describe('parseFilter', () => {
  it('accepts every known key and keeps a fixed key order', () => {
    const f = parseFilter(
      {
        eras: ['Run2024C'],
        magnet: 'on',
        quality: 'ecal, tracker',
        maxBeamEnergy: 7000,
        minBeamEnergy: 6000,
        minLumi: 1,
        minDuration: 600,
        runClass: ['Collisions24'],
        stableBeams: true,
        global: true,
      },
      'here',
    );
    expect(Object.keys(f)).toEqual([
      'global',
      'stableBeams',
      'minDuration',
      'minLumi',
      'minBeamEnergy',
      'maxBeamEnergy',
      'runClass',
      'quality',
      'eras',
      'magnet',
    ]);
    expect(f.quality).toEqual(['ecal', 'tracker']);
  });

  it('treats null/undefined as "any run"', () => {
    expect(parseFilter(undefined, 'x')).toEqual({});
    expect(parseFilter(null, 'x')).toEqual({});
  });

  it.each([
    [[1], /must be an object/],
    ['global', /must be an object/],
    [{ colour: 'red' }, /unknown filter key 'colour' \(known: global/],
    [{ global: 'yes' }, /'global' must be true or false/],
    [{ minDuration: -1 }, /'minDuration' must be a non-negative number/],
    [{ minLumi: Number.NaN }, /'minLumi' must be a non-negative number/],
    [{ runClass: [''] }, /'runClass' must be a list of names/],
    [{ quality: [1] }, /'quality' must be a list of names/],
    [{ magnet: 'maybe' }, /'magnet' must be "on" or "off"/],
    [{ minBeamEnergy: 7000, maxBeamEnergy: 450 }, /minBeamEnergy 7000 is above maxBeamEnergy 450/],
  ])('rejects %j with a message naming the place', (raw, re) => {
    expect(() => parseFilter(raw, 'campaigns/x.json: run type t')).toThrow(UserError);
    expect(() => parseFilter(raw, 'campaigns/x.json: run type t')).toThrow(re);
    expect(() => parseFilter(raw, 'campaigns/x.json: run type t')).toThrow(/^campaigns\/x\.json: run type t/);
  });
});

describe('parseFilterText', () => {
  it('reads key=value pairs with | lists, booleans and numbers', () => {
    expect(
      parseFilterText('global=true,stableBeams=false,runClass=Collisions24|Collisions25,minDuration=600'),
    ).toEqual({
      global: true,
      stableBeams: false,
      minDuration: 600,
      runClass: ['Collisions24', 'Collisions25'],
    });
    expect(parseFilterText(' magnet=off , quality=ecal|hcal ')).toEqual({
      magnet: 'off',
      quality: ['ecal', 'hcal'],
    });
  });

  it('reads JSON', () => {
    expect(parseFilterText('{"global":true,"minLumi":2.5}')).toEqual({ global: true, minLumi: 2.5 });
  });

  it('"" and "any" mean any run', () => {
    expect(parseFilterText('')).toEqual({});
    expect(parseFilterText('any')).toEqual({});
  });

  it('refuses text that is not key=value (usage error, exit 2)', () => {
    const err = (() => {
      try {
        parseFilterText('global');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).message).toMatch(/'global' is not key=value \(e\.g\. --filter global=true/);
  });

  it('refuses broken JSON and unknown keys', () => {
    expect(() => parseFilterText('{"global":')).toThrow(/--filter: invalid JSON/);
    expect(() => parseFilterText('lumi=3')).toThrow(/unknown filter key 'lumi'/);
    expect(() => parseFilterText('global=maybe')).toThrow(/'global' must be true or false/);
  });

  it('round-trips through describeFilter into a readable line', () => {
    expect(describeFilter(parseFilterText('global=true,stableBeams=true,minDuration=600,quality=ecal'))).toBe(
      'global, stable beams, ≥600s, good ecal',
    );
    expect(describeFilter({})).toBe('any run');
  });
});
