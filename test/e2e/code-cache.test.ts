/** bin/runctrl.js starts the CLI bundle with a V8 code cache: made, reused, refused when bad, and optional. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'runctrl-cache-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const dir = path.join(home, 'runctrl');
const files = (): string[] => {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.v8'));
  } catch {
    return [];
  }
};

describe('the code cache of the CLI bundle', () => {
  it('is written under XDG_CACHE_HOME, reused, replaced when corrupt, and left alone with RUNCTRL_CODE_CACHE=0', async () => {
    const env = { XDG_CACHE_HOME: home };
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'cli-v0.0.0-1-1.v8'), 'the cache of another build');
    const v1 = await spawnCli(['--version'], { env });
    expect(v1.code, v1.stderr).toBe(0);
    expect(v1.stdout.trim()).toBe(
      (
        JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version,
    );
    expect(files()).toHaveLength(1); // the other build's cache is gone
    const file = path.join(dir, files()[0] ?? '');
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(10_000);

    // a command that compiles more code grows the cache; its output is the same as without a cache
    const help = await spawnCli(['status', '--help'], { env });
    expect(help.code, help.stderr).toBe(0);
    const plain = await spawnCli(['status', '--help'], { env: { ...env, RUNCTRL_CODE_CACHE: '0' } });
    expect(plain.stdout).toBe(help.stdout);
    expect(help.stderr).toBe('');

    writeFileSync(file, 'not a V8 code cache');
    const again = await spawnCli(['--version'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(v1.stdout);
    expect(statSync(file).size).toBeGreaterThan(10_000); // V8 refused it: written anew

    const off = mkdtempSync(path.join(os.tmpdir(), 'runctrl-nocache-'));
    try {
      const r = await spawnCli(['--version'], { env: { XDG_CACHE_HOME: off, RUNCTRL_CODE_CACHE: '0' } });
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(off)).toEqual([]);
    } finally {
      rmSync(off, { recursive: true, force: true });
    }
  });

  it('an unwritable cache directory only costs speed', async () => {
    const r = await spawnCli(['--version'], { env: { XDG_CACHE_HOME: '/proc/nope' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});
