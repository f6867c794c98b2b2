/**
 * Glossary
 * - run source: where run metadata comes from (the CMS OMS REST API, or a run-registry file).
 * - era: a data-acquisition period (e.g. Run2024C); every run belongs to one.
 */
import type { RunInfo } from '../domain/run.js';

export interface RunQuery {
  /** Exactly these runs. */
  runs?: number[];
  /** Inclusive range. */
  range?: { min: number; max: number };
  era?: string;
  /** Runs with a number strictly above this (prompt sensing). */
  after?: number;
}

export interface RunSource {
  /** Human-readable description (no secrets), e.g. `registry data/runs/x.json` or `oms https://…`. */
  readonly describe: string;
  /** Runs matching the query, sorted by run number. Runs the source does not know are simply absent. */
  fetch(q: RunQuery): Promise<RunInfo[]>;
  /** Known eras, sorted. */
  eras(): Promise<string[]>;
  close?(): Promise<void>;
}
