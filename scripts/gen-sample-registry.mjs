#!/usr/bin/env node
/**
 * Generates the bundled sample run registry: a realistic, deterministic set of CMS-like 2024 runs.
 *
 *   node scripts/gen-sample-registry.mjs [--seed N] [--out DIR]
 *
 * Writes DIR/sample-registry.json (about 3000 runs, camelCase keys, Unix-second times, one run per line)
 * and DIR/sample-registry.csv (a subset of about 50 of the same runs, snake_case columns, ISO 8601 times,
 * quality as `ecal:good;tracker:bad`) — both readable by src/sources/registry.ts. DIR defaults to data/runs.
 *
 * The same seed always gives byte-identical files (a seeded PRNG, no clock, no Math.random).
 *
 * What is realistic about it (approximately — this is sample data, not a copy of OMS):
 * - eras Run2024A … Run2024I with run-number ranges in the 378000–387000 band and the dates of 2024;
 * - run numbers increase with time; LHC fill numbers (9300–10300) increase with time and are shared by
 *   the runs taken during one fill;
 * - ~70% global runs; local (subdetector) runs are Commissioning24 or Cosmics24;
 * - Run2024A is commissioning and cosmics (magnet ramping, off at first), collisions from Run2024B on;
 * - stable beams only in part of the Collisions24 runs; beam energy 6800 GeV in stable beams, 450 GeV at
 *   injection, 0 without beam;
 * - solenoid current ≈18164 A when on, a few A when off;
 * - durations from seconds (aborted runs) to many hours (long physics runs); recorded lumi 10–36 /pb per
 *   hour of stable beams (several hundred /pb for the longest runs), recorded ≤ delivered;
 * - quality flags (ecal, hcal, tracker, muon) for global runs, mostly good; local runs carry at most the
 *   flag of their own subsystem;
 * - the very last run is still ongoing (endTime null).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

const SEED = Number(arg('--seed', '20240314'));
const OUT = path.resolve(arg('--out', path.join(ROOT, 'data', 'runs')));

/** mulberry32: a small, fast, seeded PRNG giving floats in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = mulberry32(SEED);
const uniform = (a, b) => a + (b - a) * rnd();
const int = (a, b) => Math.floor(uniform(a, b + 1));
const chance = (p) => rnd() < p;
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const logUniform = (a, b) => Math.exp(uniform(Math.log(a), Math.log(b)));
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
const utc = (s) => Math.floor(Date.parse(s) / 1000);

/**
 * Eras: run-number band, dates, first fill, the share of runs taken with collisions, and whether the
 * magnet is mostly on. Runs are numbered in time order; the sample keeps about one run number in three.
 */
const ERAS = [
  {
    name: 'Run2024A',
    first: 378000,
    last: 378980,
    from: '2024-03-14',
    to: '2024-04-05',
    fill: 9380,
    coll: 0.1,
    magnet: 0.45,
  },
  {
    name: 'Run2024B',
    first: 378981,
    last: 379410,
    from: '2024-04-05',
    to: '2024-04-12',
    fill: 9470,
    coll: 0.55,
    magnet: 0.95,
  },
  {
    name: 'Run2024C',
    first: 379411,
    last: 380250,
    from: '2024-04-12',
    to: '2024-04-26',
    fill: 9500,
    coll: 0.65,
    magnet: 0.97,
  },
  {
    name: 'Run2024D',
    first: 380251,
    last: 380945,
    from: '2024-04-26',
    to: '2024-05-10',
    fill: 9560,
    coll: 0.65,
    magnet: 0.97,
  },
  {
    name: 'Run2024E',
    first: 380946,
    last: 381940,
    from: '2024-05-10',
    to: '2024-06-01',
    fill: 9610,
    coll: 0.65,
    magnet: 0.96,
  },
  {
    name: 'Run2024F',
    first: 381941,
    last: 383780,
    from: '2024-06-01',
    to: '2024-07-18',
    fill: 9680,
    coll: 0.68,
    magnet: 0.97,
  },
  {
    name: 'Run2024G',
    first: 383781,
    last: 385810,
    from: '2024-07-18',
    to: '2024-08-30',
    fill: 9850,
    coll: 0.68,
    magnet: 0.97,
  },
  {
    name: 'Run2024H',
    first: 385811,
    last: 386405,
    from: '2024-08-30',
    to: '2024-09-13',
    fill: 10050,
    coll: 0.66,
    magnet: 0.95,
  },
  {
    name: 'Run2024I',
    first: 386406,
    last: 386960,
    from: '2024-09-13',
    to: '2024-10-10',
    fill: 10120,
    coll: 0.64,
    magnet: 0.96,
  },
];

const KEEP = 0.335; // share of run numbers kept in the sample (~3000 of ~9000)
const SUBSYSTEMS = ['ecal', 'hcal', 'tracker', 'muon'];
const MAGNET_ON = 18164;

function duration(kind) {
  // Seconds. Aborted runs, short test runs, typical runs, long physics runs.
  const r = rnd();
  if (r < 0.12) return int(8, 180);
  if (kind === 'collisions') {
    if (r < 0.3) return int(300, 3600);
    if (r < 0.8) return int(3600, 6 * 3600);
    return int(6 * 3600, 19 * 3600);
  }
  if (r < 0.55) return int(180, 3600);
  if (r < 0.9) return int(3600, 4 * 3600);
  return int(4 * 3600, 12 * 3600);
}

function quality(global, localSub) {
  const q = {};
  if (global) {
    for (const s of SUBSYSTEMS) q[s] = !chance(s === 'tracker' ? 0.07 : 0.05);
  } else if (localSub) {
    q[localSub] = !chance(0.1);
  }
  return q;
}

const runs = [];
let fill = 0;
for (const era of ERAS) {
  const t0 = utc(`${era.from}T06:00:00Z`);
  const t1 = utc(`${era.to}T06:00:00Z`);
  const span = era.last - era.first + 1;
  fill = Math.max(fill, era.fill);
  for (let n = era.first; n <= era.last; n++) {
    if (!chance(KEEP)) continue;
    // Start time: proportional to the run number within the era, plus jitter that keeps the order.
    const frac = (n - era.first + rnd() * 0.5) / span;
    const start = Math.floor(t0 + frac * (t1 - t0));
    if (chance(0.09)) fill += int(1, 3);

    const global = chance(0.7);
    const localSub = global ? null : pick(SUBSYSTEMS);
    const collisions = global && chance(era.coll);
    const kind = collisions ? 'collisions' : 'other';
    const runClass = collisions
      ? 'Collisions24'
      : chance(global ? 0.55 : 0.35)
        ? 'Cosmics24'
        : 'Commissioning24';
    const stableBeams = collisions && chance(0.72);
    const beamEnergy = stableBeams ? 6800 : collisions ? pick([450, 6800]) : 0;

    const magnetOn = chance(era.magnet);
    const magnetCurrent = magnetOn ? round(MAGNET_ON + uniform(-3, 3), 1) : round(uniform(0, 4), 1);

    const dur = duration(kind);
    let deliveredLumi = 0;
    let recordedLumi = 0;
    if (stableBeams) {
      const perHour = uniform(10, 36); // /pb per hour, averaged over the run (peak ≈ 70 /pb/h)
      deliveredLumi = round((perHour * dur) / 3600, 3);
      recordedLumi = round(deliveredLumi * uniform(0.9, 0.985), 3);
    } else if (collisions && beamEnergy === 6800) {
      deliveredLumi = round(logUniform(0.001, 2), 3);
      recordedLumi = round(deliveredLumi * uniform(0.8, 0.98), 3);
    }

    runs.push({
      run: n,
      fill,
      era: era.name,
      startTime: start,
      endTime: start + dur,
      global,
      stableBeams,
      runClass,
      deliveredLumi,
      recordedLumi,
      beamEnergy,
      magnetCurrent,
      quality: quality(global, localSub),
    });
  }
}
// The last run is still ongoing.
const last = runs[runs.length - 1];
last.endTime = null;
last.deliveredLumi = 0;
last.recordedLumi = 0;

mkdirSync(OUT, { recursive: true });
const json = '[\n' + runs.map((r) => JSON.stringify(r)).join(',\n') + '\n]\n';
writeFileSync(path.join(OUT, 'sample-registry.json'), json);

// CSV: every 60th run, snake_case columns, ISO times, quality as `sub:good;sub:bad`.
const iso = (t) => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const header = [
  'run_number',
  'fill_number',
  'era',
  'start_time',
  'end_time',
  'global',
  'stable_beams',
  'run_class',
  'delivered_lumi',
  'recorded_lumi',
  'beam_energy',
  'magnet_current',
  'quality',
];
const lines = [header.join(',')];
for (let i = 0; i < runs.length; i += 60) {
  const r = runs[i];
  lines.push(
    [
      r.run,
      r.fill,
      r.era,
      iso(r.startTime),
      r.endTime === null ? '' : iso(r.endTime),
      r.global,
      r.stableBeams,
      r.runClass,
      r.deliveredLumi,
      r.recordedLumi,
      r.beamEnergy,
      r.magnetCurrent,
      Object.entries(r.quality)
        .map(([k, v]) => `${k}:${v ? 'good' : 'bad'}`)
        .join(';'),
    ].join(','),
  );
}
writeFileSync(path.join(OUT, 'sample-registry.csv'), lines.join('\n') + '\n');

const bytes = Buffer.byteLength(json);
console.error(
  `gen-sample-registry: ${runs.length} runs (${runs[0].run}–${last.run}) → ${path.relative(process.cwd(), OUT)}/sample-registry.json (${(bytes / 1e6).toFixed(2)} MB), ${lines.length - 1} runs → sample-registry.csv`,
);
