/** A real headless Chromium from Debian (scripts/chromium.sh install), driven by playwright-core, and a served dashboard. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { WorkflowSpec } from '../../src/domain/workflow.js';
import { BIN } from '../helpers/cli.js';
import { ROOT } from '../helpers/ctx.js';
import { workflowSpec } from '../helpers/fixtures.js';

export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.RUNCTRL_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** `runctrl serve --port 0` as an operator starts it; resolves once it printed its URL. */
export function startServe(
  env: NodeJS.ProcessEnv,
  cwd: string,
  extra: string[] = [],
): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...extra], {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], child, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`runctrl serve exited ${String(code)}: ${err}`)));
  });
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A minimal workflow definition for dashboard tests. */
export function simpleWorkflow(name: string): WorkflowSpec {
  return workflowSpec(name, { maxRetries: 0 });
}
