/** Runs the CLI in-process or as `node bin/runctrl.js`, and checks how refused commands look. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Io } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { ROOT } from './ctx.js';

export const BIN = path.join(ROOT, 'bin', 'runctrl.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process (fast), capturing what it prints. */
export async function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; isTTY?: boolean } = {},
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (t) => out.push(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => err.push(t.endsWith('\n') ? t : `${t}\n`),
    isTTY: opts.isTTY ?? false,
    env: opts.env ?? {},
    cwd: opts.cwd ?? ROOT,
  };
  const code = await main(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** Spawns `node bin/runctrl.js` like an operator would (needs `npm run build`). */
export function spawnCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<CliResult> {
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before the end-to-end tests (npm test does)');
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * The checks every refused command must pass: the exit code, a message on stderr that starts with
 * `runctrl:` and is one line (usage errors add a `(see runctrl --help)` line), no stack trace.
 */
export function expectCleanError(r: CliResult, code: number, message: RegExp): void {
  expect(r.stderr).toMatch(message);
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(/^runctrl: /);
  expect(r.stderr).not.toMatch(/\n\s+at |internal error|Error:/);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.slice(1)).toEqual(lines.length === 2 ? ['(see runctrl --help)'] : []);
}
