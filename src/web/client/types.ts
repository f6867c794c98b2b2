/** Shapes of the API answers: the server's own types (type-only imports, erased from the bundle). */
export type { RunStatus } from '../../domain/status.js';
export type { DisplayStatus } from '../../domain/blocked.js';
export type { LockRecord as Lock, JobRecord as Job } from '../../domain/jobs.js';
export type {
  ChartsResult as Charts,
  GridResult as Grid,
  OverviewEntry as Overview,
  RunPage,
} from '../../core/dashboard.js';
export type { FailuresResult as Failures } from '../../core/failures.js';
export type { PairInfo } from '../../core/view.js';
export type { LogTail } from '../logs.js';
export type { CampaignHealth } from '../../domain/loop-health.js';
