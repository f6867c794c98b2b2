/** Run filters of run types: pure matching of run metadata. */
import { UserError } from '../errors.js';
import { durationOf, MAGNET_ON_CURRENT, type RunInfo } from './run.js';

export interface RunFilter {
  /** Require a global run (true) or a local one (false). */
  global?: boolean;
  stableBeams?: boolean;
  /** Run class must be one of these. */
  runClass?: string[];
  /** Minimum duration in seconds. */
  minDuration?: number;
  /** Minimum recorded luminosity in /pb. */
  minLumi?: number;
  /** Beam energy range in GeV, inclusive. */
  minBeamEnergy?: number;
  maxBeamEnergy?: number;
  magnet?: 'on' | 'off';
  /** Quality flags that must be good. */
  quality?: string[];
  /** Era must be one of these. */
  eras?: string[];
}

/** The filter of the default run type `all`: rejects non-global runs. */
export const DEFAULT_FILTER: RunFilter = { global: true };

export function matches(f: RunFilter, r: RunInfo): boolean {
  if (f.global !== undefined && r.global !== f.global) return false;
  if (f.stableBeams !== undefined && r.stableBeams !== f.stableBeams) return false;
  if (f.runClass && f.runClass.length > 0 && !f.runClass.includes(r.runClass)) return false;
  if (f.minDuration !== undefined && durationOf(r) < f.minDuration) return false;
  if (f.minLumi !== undefined && r.recordedLumi < f.minLumi) return false;
  if (f.minBeamEnergy !== undefined && r.beamEnergy < f.minBeamEnergy) return false;
  if (f.maxBeamEnergy !== undefined && r.beamEnergy > f.maxBeamEnergy) return false;
  if (f.magnet !== undefined && r.magnetCurrent >= MAGNET_ON_CURRENT !== (f.magnet === 'on')) return false;
  if (f.quality && f.quality.some((q) => r.quality[q] !== true)) return false;
  if (f.eras && f.eras.length > 0 && !f.eras.includes(r.era)) return false;
  return true;
}

const KEYS: (keyof RunFilter)[] = [
  'global',
  'stableBeams',
  'runClass',
  'minDuration',
  'minLumi',
  'minBeamEnergy',
  'maxBeamEnergy',
  'magnet',
  'quality',
  'eras',
];

/** Validates an untrusted filter object (from a campaign file or the database). */
export function parseFilter(raw: unknown, where: string): RunFilter {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new UserError(`${where}: the filter must be an object`);
  const o = raw as Record<string, unknown>;
  const f: RunFilter = {};
  for (const k of Object.keys(o)) {
    if (!(KEYS as string[]).includes(k)) {
      throw new UserError(`${where}: unknown filter key '${k}' (known: ${KEYS.join(', ')})`);
    }
  }
  const bool = (k: 'global' | 'stableBeams'): void => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v !== 'boolean') throw new UserError(`${where}: filter '${k}' must be true or false`);
    f[k] = v;
  };
  const num = (k: 'minDuration' | 'minLumi' | 'minBeamEnergy' | 'maxBeamEnergy'): void => {
    const v = o[k];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new UserError(`${where}: filter '${k}' must be a non-negative number`);
    }
    f[k] = v;
  };
  const list = (k: 'runClass' | 'quality' | 'eras'): void => {
    const v = o[k];
    if (v === undefined) return;
    const arr = typeof v === 'string' ? v.split(',') : v;
    if (!Array.isArray(arr) || arr.some((x) => typeof x !== 'string' || x.trim() === '')) {
      throw new UserError(`${where}: filter '${k}' must be a list of names`);
    }
    f[k] = (arr as string[]).map((x) => x.trim());
  };
  bool('global');
  bool('stableBeams');
  num('minDuration');
  num('minLumi');
  num('minBeamEnergy');
  num('maxBeamEnergy');
  list('runClass');
  list('quality');
  list('eras');
  if (o.magnet !== undefined) {
    if (o.magnet !== 'on' && o.magnet !== 'off')
      throw new UserError(`${where}: filter 'magnet' must be "on" or "off"`);
    f.magnet = o.magnet;
  }
  if (f.minBeamEnergy !== undefined && f.maxBeamEnergy !== undefined && f.minBeamEnergy > f.maxBeamEnergy) {
    throw new UserError(
      `${where}: minBeamEnergy ${f.minBeamEnergy} is above maxBeamEnergy ${f.maxBeamEnergy}`,
    );
  }
  return f;
}

/** One-line human description of a filter. */
export function describeFilter(f: RunFilter): string {
  const parts: string[] = [];
  if (f.global !== undefined) parts.push(f.global ? 'global' : 'local');
  if (f.stableBeams !== undefined) parts.push(f.stableBeams ? 'stable beams' : 'no stable beams');
  if (f.runClass?.length) parts.push(`class ${f.runClass.join('|')}`);
  if (f.minDuration !== undefined) parts.push(`≥${f.minDuration}s`);
  if (f.minLumi !== undefined) parts.push(`lumi ≥${f.minLumi}/pb`);
  if (f.minBeamEnergy !== undefined || f.maxBeamEnergy !== undefined) {
    parts.push(`E ${f.minBeamEnergy ?? 0}–${f.maxBeamEnergy ?? '∞'} GeV`);
  }
  if (f.magnet) parts.push(`magnet ${f.magnet}`);
  if (f.quality?.length) parts.push(`good ${f.quality.join(',')}`);
  if (f.eras?.length) parts.push(`era ${f.eras.join('|')}`);
  return parts.length ? parts.join(', ') : 'any run';
}

/**
 * A filter as typed on the command line: JSON (`{"global":true}`) or `key=value` pairs separated by commas,
 * lists with `|` (`global=true,stableBeams=true,runClass=Collisions24|Collisions25,minDuration=600`).
 */
export function parseFilterText(text: string): RunFilter {
  const t = text.trim();
  if (t === '' || t === 'any') return {};
  if (t.startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch (err) {
      throw new UserError(`--filter: invalid JSON (${err instanceof Error ? err.message : String(err)})`, {
        exitCode: 2,
      });
    }
    return parseFilter(raw, '--filter');
  }
  const o: Record<string, unknown> = {};
  for (const part of t.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new UserError(
        `--filter: '${part}' is not key=value (e.g. --filter global=true,minDuration=600)`,
        { exitCode: 2 },
      );
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 'runClass' || k === 'quality' || k === 'eras') o[k] = v.split('|').filter(Boolean);
    else if (v === 'true' || v === 'false') o[k] = v === 'true';
    else if (v !== '' && !Number.isNaN(Number(v))) o[k] = Number(v);
    else o[k] = v;
  }
  return parseFilter(o, '--filter');
}
