/** Helpers for tests of the automation loop: an environment for the CLI, campaign files, passes until settled. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { RunInfo } from '../../src/domain/run.js';
import { BIN, runCli, spawnCli, type CliResult } from './cli.js';
import { makeRun } from './fixtures.js';
import { influxUrl } from './influx.js';

export interface LoopEnv {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** Every job execution appends a line `<campaign> <workflow> <runs> <attempt>` here. */
  execLog: string;
}

/** 20 global runs: 12 of Run2024C (386001–386012) and 8 of Run2024D (386101–386108). */
export function twentyRuns(): RunInfo[] {
  const runs: RunInfo[] = [];
  for (let r = 386001; r <= 386012; r++) runs.push(makeRun(r, { era: 'Run2024C' }));
  for (let r = 386101; r <= 386108; r++) runs.push(makeRun(r, { era: 'Run2024D' }));
  return runs;
}

export function loopEnv(db: string, runs: RunInfo[] = twentyRuns(), url: string = influxUrl()): LoopEnv {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-loop-'));
  const registry = path.join(dir, 'registry.json');
  writeFileSync(registry, JSON.stringify(runs));
  const execLog = path.join(dir, 'executions.log');
  writeFileSync(execLog, '');
  return {
    dir,
    execLog,
    env: {
      RUNCTRL_INFLUXDB_URL: url,
      RUNCTRL_DB: db,
      RUNCTRL_STATE_DIR: path.join(dir, 'state'),
      RUNCTRL_RUN_SOURCE: registry,
      RUNCTRL_LOCAL_MAX_RUNNING: '32',
      // the executors of the tests' state directories do not outlive the tests by long
      RUNCTRL_LOCAL_IDLE_EXIT_S: '20',
      RUNCTRL_EXEC_LOG: execLog,
      RUNCTRL_JOB_ENV: 'RUNCTRL_EXEC_LOG,RUNCTRL_BIN',
    },
  };
}

/** A command template that logs its execution, optionally fails, and records one output. */
export function loggingCommand(name: string, extra = ''): string {
  return `echo "{campaign} {workflow} {runs} {attempt}" >> "$RUNCTRL_EXEC_LOG"; ${extra}echo {outdir}/${name}_{group}_a{attempt}.out >> "$RUNCTRL_OUTPUT_FILE"`;
}

export function writeCampaign(e: LoopEnv, spec: object, name = 'campaign.json'): string {
  const file = path.join(e.dir, name);
  writeFileSync(file, JSON.stringify(spec, null, 2));
  return file;
}

/** Spawns `node bin/runctrl.js` (used for the loop itself, which may be killed). */
export async function cli(e: LoopEnv, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return spawnCli(args, { env: { ...e.env, ...extraEnv }, cwd: e.dir });
}

/** Runs an operator command in-process (fast) and requires success. */
export async function ok(e: LoopEnv, args: string[]): Promise<CliResult> {
  const r = await runCli(args, { env: { ...e.env }, cwd: e.dir });
  if (r.code !== 0) throw new Error(`runctrl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

export interface StatusJson {
  workflows: string[];
  rows: { run: number; status: Record<string, string | null> }[];
  totals: Record<string, Record<string, number>>;
  /** Stale done pairs per workflow. */
  stale?: Record<string, number>;
}

export async function statusOf(e: LoopEnv, campaign: string): Promise<StatusJson> {
  return JSON.parse((await ok(e, ['status', '--campaign', campaign, '--json'])).stdout) as StatusJson;
}

/** Runs `automation --once` until no pair is new/processing/reprocess (or the limit), waiting a little between passes. */
export async function untilSettled(
  e: LoopEnv,
  campaign: string,
  opts: { maxPasses?: number; pauseMs?: number; args?: string[]; settled?: (s: StatusJson) => boolean } = {},
): Promise<StatusJson> {
  const settled =
    opts.settled ??
    ((s: StatusJson) =>
      Object.values(s.totals).every((t) => (t.new ?? 0) + (t.processing ?? 0) + (t.reprocess ?? 0) === 0));
  for (let i = 0; i < (opts.maxPasses ?? 30); i++) {
    const r = await cli(e, ['automation', '--once', ...(opts.args ?? [])]);
    expect(r.code, r.stderr).toBe(0);
    const s = await statusOf(e, campaign);
    if (settled(s)) return s;
    await new Promise((res) => setTimeout(res, opts.pauseMs ?? 100));
  }
  throw new Error(
    `campaign ${campaign} did not settle: ${JSON.stringify((await statusOf(e, campaign)).totals)}`,
  );
}

/** Starts `automation --daemon --serve 0` and resolves with the dashboard's URL and a stop function. */
export function daemonWithDashboard(
  e: LoopEnv,
  campaign: string,
  interval = '60s',
): Promise<{ url: string; stop: () => Promise<number> }> {
  const child = spawn(
    process.execPath,
    [BIN, 'automation', '--daemon', '--interval', interval, '-c', campaign, '--serve', '0'],
    {
      cwd: e.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...e.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /dashboard at (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m?.[1]) resolve({ url: m[1], stop: () => (child.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => reject(new Error(`daemon exited (${code}): ${err}`)));
  });
}
