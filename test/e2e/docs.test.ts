/**
 * The shell examples of the documentation, run as an operator would type them. Every block fenced as
 * "```sh runnable" in README.md and docs/*.md is run, block after block in the order of its file, by bash
 * with `set -euo pipefail` against the test InfluxDB (each database an example names is dropped before its
 * file runs), with `runctrl` on the PATH (`node bin/runctrl.js`), the sample run registry as the run source,
 * a fresh state directory, and a working directory holding `campaigns/` and `golden_runs.txt`. A block whose
 * command fails (or a file that takes longer than its time) fails the test with what the shell printed.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { ROOT, SAMPLE } from '../helpers/ctx.js';
import { influxUrl } from '../helpers/influx.js';

interface Block {
  file: string;
  line: number;
  code: string;
}

/** The runnable blocks of one Markdown text, with the line each starts on. */
export function runnableBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```sh runnable\s*$/.test(lines[i] ?? '')) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !(lines[end] ?? '').startsWith('```')) end++;
    blocks.push({ file, line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
const byFile = DOCS.map((f) => ({
  file: f,
  blocks: runnableBlocks(f, readFileSync(path.join(ROOT, f), 'utf8')),
}));
const withBlocks = byFile.filter((d) => d.blocks.length > 0);

const work = mkdtempSync(path.join(os.tmpdir(), 'runctrl-docs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function dropDatabases(names: string[]): Promise<void> {
  for (const db of names) {
    const body = new URLSearchParams({ q: `DROP DATABASE "${db}"` });
    const res = await fetch(`${influxUrl()}/query`, { method: 'POST', body });
    expect(res.status, `DROP DATABASE ${db}`).toBe(200);
  }
}

function databasesOf(blocks: Block[]): string[] {
  const names = new Set<string>();
  for (const b of blocks)
    for (const m of b.code.matchAll(/--db[ =]([A-Za-z0-9_.-]+)/g)) names.add(m[1] ?? '');
  return [...names].filter((n) => n !== '');
}

/** A directory to run one file's examples in: campaigns/, a run list, `runctrl` on the PATH. */
function sandbox(name: string): { cwd: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(path.join(work, `${name.replace(/[^A-Za-z0-9]/g, '_')}-`));
  const cwd = path.join(dir, 'cwd');
  const bin = path.join(dir, 'bin');
  mkdirSync(cwd);
  mkdirSync(bin);
  symlinkSync(path.join(ROOT, 'campaigns'), path.join(cwd, 'campaigns'));
  writeFileSync(path.join(cwd, 'golden_runs.txt'), '# golden runs of Run2024C\n380246\n380249\n');
  const shim = path.join(bin, 'runctrl');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(shim, 0o755);
  return {
    cwd,
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: dir,
      RUNCTRL_INFLUXDB_URL: influxUrl(),
      RUNCTRL_RUN_SOURCE: SAMPLE,
      RUNCTRL_STATE_DIR: path.join(dir, 'state'),
      RUNCTRL_CODE_CACHE: '0',
      RUNCTRL_LOCAL_IDLE_EXIT_S: '5',
    },
  };
}

function runBash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 137, out });
    });
  });
}

describe('documentation examples', () => {
  it('has runnable examples in the README and the operator guide', () => {
    const files = withBlocks.map((d) => d.file);
    expect(files).toContain('README.md');
    expect(files).toContain('docs/operator-guide.md');
    expect(withBlocks.reduce((n, d) => n + d.blocks.length, 0)).toBeGreaterThanOrEqual(15);
  });

  it.each(withBlocks.map((d) => [d.file, d.blocks] as const))(
    '%s: every runnable block succeeds',
    async (file, blocks) => {
      await dropDatabases(databasesOf(blocks));
      const { cwd, env } = sandbox(file);
      for (const b of blocks) {
        const r = await runBash(`set -x\n${b.code}`, cwd, env, 150_000);
        expect(r.code, `${b.file}:${b.line} exited ${r.code}:\n${r.out.slice(-4000)}`).toBe(0);
      }
    },
    300_000,
  );
});
