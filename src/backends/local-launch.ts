/**
 * Starting the local executor on demand: is it alive (its lock name is bound), does it hold the secret
 * variables a submission needs (else it is stopped and started again with them), and where is its code.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { lockName } from './local-files.js';

/**
 * The compiled executor: next to this module in dist/backends/, or under dist/ when this is the CLI bundle
 * (dist/runctrl.cjs), else dist/ of the package (tests run src/).
 */
export function executorScript(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.join(here, 'local-executor.js'),
    path.join(here, 'backends', 'local-executor.js'),
    path.join(here, '..', '..', 'dist', 'backends', 'local-executor.js'),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) {
    throw new UserError(`the local executor ${candidates[2] as string} is missing: run \`npm run build\``);
  }
  return found;
}

/** True when an executor holds the lock of `root`. */
export function executorAlive(root: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(lockName(root));
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

interface ExecutorInfo {
  pid: number;
  secretNames: string[];
}

function readInfo(root: string): ExecutorInfo | undefined {
  try {
    return JSON.parse(readFileSync(path.join(root, 'executor.json'), 'utf8')) as ExecutorInfo;
  } catch {
    return undefined;
  }
}

/** Stops a running executor (its jobs keep running; the next one adopts them) and waits for its lock. */
async function stopExecutor(root: string, pid: number): Promise<void> {
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmd.includes('local-executor')) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && (await executorAlive(root)); i++) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Makes sure an executor runs for `root`, with `secrets` in its environment (names it lacks restart it).
 * A second starter racing this one loses the lock and exits at once.
 */
export async function ensureExecutor(
  root: string,
  env: NodeJS.ProcessEnv,
  secrets: Record<string, string>,
): Promise<void> {
  if (await executorAlive(root)) {
    const info = readInfo(root);
    const missing = Object.keys(secrets).filter((k) => !(info?.secretNames ?? []).includes(k));
    if (missing.length === 0 || info === undefined) return;
    await stopExecutor(root, info.pid);
  }
  const log = openSync(path.join(root, 'executor.log'), 'a');
  try {
    const child = spawn(process.execPath, [executorScript(), root], {
      detached: true,
      stdio: ['ignore', log, log],
      cwd: root,
      env: { ...env, ...secrets, RUNCTRL_LOCAL_SECRET_NAMES: Object.keys(secrets).join(',') },
    });
    child.on('error', () => undefined);
    child.unref();
  } finally {
    closeSync(log);
  }
  // Wait until it holds the lock, so that the next call does not start a second one without the secrets.
  for (let i = 0; i < 150 && !(await executorAlive(root)); i++) await new Promise((r) => setTimeout(r, 20));
}
