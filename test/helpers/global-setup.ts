/**
 * Starts one real influxd for the whole test run (scripts/influxdb.sh, a free port, a fresh data dir)
 * unless RUNCTRL_TEST_INFLUXDB_URL points at a running one. Each test file makes its own database.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    influxUrl: string;
  }
}

const root = path.resolve(import.meta.dirname, '..', '..');

export default function setup(project: TestProject): () => void {
  const given = process.env.RUNCTRL_TEST_INFLUXDB_URL;
  if (given) {
    project.provide('influxUrl', given);
    return () => undefined;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-test-influx-'));
  const script = path.join(root, 'scripts', 'influxdb.sh');
  const url = execFileSync('bash', [script, 'up', dir], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  project.provide('influxUrl', url);
  return () => {
    execFileSync('bash', [script, 'down', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
}
