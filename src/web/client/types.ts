/** Shapes of the API answers (mirrors src/core/dashboard.ts; kept DOM-side to stay out of the server bundle). */
export type RunStatus = 'new' | 'processing' | 'done' | 'failed' | 'reprocess';
export type Counts = Record<RunStatus, number>;

export interface Lock {
  campaign: string;
  workflow: string;
  fromRun: number;
  reason: string;
  locked: boolean;
  by: string;
  time: number;
}

export interface Overview {
  campaign: string;
  description: string;
  activity: string;
  rtypes: { name: string }[];
  workflows: string[];
  runs: number;
  counts: Counts;
  perWorkflow: Record<string, Counts & { total: number }>;
  failed24h: number;
  locks: Lock[];
}

export interface Grid {
  campaign: string;
  workflows: string[];
  statuses: RunStatus[];
  eras: string[];
  runs: number[];
  era: number[];
  cells: string;
  counts: Record<string, Counts>;
  total: number;
}

export interface Job {
  workflow: string;
  name: string;
  runs: number[];
  attempt: number;
  status: string;
  backend: string;
  nativeId: string;
  exitCode: number | null;
  reason: string;
  submittedAt: number;
  time: number;
  outputs: string[];
}

export interface RunStateP {
  status: RunStatus;
  attempt: number;
  tries: number;
  reason: string;
  time: number;
}

export interface RunPage {
  campaign: string;
  run: number;
  info: { era: string; fill: number; rtypes: string[]; runClass: string } | null;
  workflows: {
    workflow: string;
    status: RunStatus | null;
    history: RunStateP[];
    jobs: Job[];
    outputs: string[];
    why: { kind: string; text: string };
  }[];
}

export interface LogTail {
  text: string;
  size: number;
  truncated: boolean;
  refused?: string;
}

export interface Charts {
  progress: { times: number[]; series: Record<string, number[]> };
  durations: { bucketsSec: number[]; series: Record<string, number[]> };
}
