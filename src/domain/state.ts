/** Current state of runs in a campaign (pure types). */
import type { RunInfo } from './run.js';
import type { RunStatus } from './status.js';

export interface RegisteredRun extends RunInfo {
  /** Run types whose filter the run matched when it was registered. */
  rtypes: string[];
}

export interface RunState {
  run: number;
  workflow: string;
  status: RunStatus;
  /** Last attempt number used (grows across reprocessing, so job names never repeat). */
  attempt: number;
  /** Attempts made since the run × workflow was last set new/reprocess. */
  tries: number;
  outputs: string[];
  reason: string;
  /** Provenance recorded when the pair's unit was submitted (src/domain/provenance.ts); '' or absent: none. */
  inputsFrom?: string;
  /** Unix ms of the point. */
  time: number;
}

export interface RunStateChange {
  run: number;
  workflow: string;
  status: RunStatus;
  attempt?: number;
  tries?: number;
  outputs?: readonly string[];
  reason?: string;
  /** Provenance (src/domain/provenance.ts) of the unit being submitted or finished. */
  inputsFrom?: string;
}

export function stateKey(run: number, workflow: string): string {
  return `${workflow}\u0000${run}`;
}
