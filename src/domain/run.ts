/** Metadata of one data-taking run, as a run source (OMS or a run registry) gives it. */
export interface RunInfo {
  run: number;
  fill: number;
  era: string;
  /** Start and end as Unix seconds; end is null while the run is ongoing. */
  startTime: number;
  endTime: number | null;
  /** A global (central DAQ) run, as opposed to a local subdetector run. */
  global: boolean;
  stableBeams: boolean;
  /** e.g. Collisions25, Cosmics25, Commissioning25. */
  runClass: string;
  /** In /pb. */
  deliveredLumi: number;
  recordedLumi: number;
  /** Beam energy in GeV (0 without beam). */
  beamEnergy: number;
  /** Solenoid current in A (magnet on ≈ 18164 A). */
  magnetCurrent: number;
  /** Data-quality flags by subsystem, true = good. */
  quality: Record<string, boolean>;
}

/** Run duration in seconds (0 for an ongoing run). */
export function durationOf(r: RunInfo): number {
  return r.endTime === null ? 0 : Math.max(0, r.endTime - r.startTime);
}

/** Magnet counted as on above this current (A). */
export const MAGNET_ON_CURRENT = 1000;
