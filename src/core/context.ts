/**
 * Glossary
 * - campaign: a named processing pass (`prompt`, `rereco_2024`); a tag on every point.
 * - run type: a run filter plus the list of active workflows of a campaign (`all`, `stable_beams`).
 * - workflow: one processing step applied to runs (ECAL "task"), declared in campaigns/.
 * - run state: the status of one run × workflow: new → processing → done | failed; reprocess to redo.
 * - use case: a function of a typed options object that returns data; src/cli prints it.
 */
import type { RunSource } from '../sources/source.js';
import type { Store } from '../store/store.js';

export interface Ctx {
  store: Store;
  /** Opens the run source lazily (only commands that need runs do). */
  source: () => RunSource;
}

export type Progress = (done: number, total: number) => void;
