import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/cli/code-cache.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadBundle', () => {
  const bundle = path.join(dir, 'runctrl.cjs');
  const compiled = path.join(dir, 'main.js');
  writeFileSync(bundle, 'exports.main = async (argv) => argv.length; exports.setImporter = () => undefined;');
  writeFileSync(compiled, '');
  const env = { XDG_CACHE_HOME: path.join(dir, 'cache') };

  it('runs the bundle, unless there is none or the compiled code is newer (dist/ compiled again by tsc alone)', async () => {
    utimesSync(compiled, new Date(1_000_000), new Date(1_000_000));
    const b = loadBundle(bundle, env, compiled);
    expect(await b?.main(['a', 'b'])).toBe(2);
    b?.save();
    expect(loadBundle(path.join(dir, 'none.cjs'), env, compiled)).toBeUndefined();
    const later = new Date(Date.now() + 60_000);
    utimesSync(compiled, later, later);
    expect(loadBundle(bundle, env, compiled)).toBeUndefined();
  });

  it('refuses a bundle that does not export the launcher interface, or does not compile or run', () => {
    const odd = path.join(dir, 'odd.cjs');
    writeFileSync(odd, 'exports.main = async () => 0;');
    expect(loadBundle(odd, env)).toBeUndefined();
    writeFileSync(odd, 'exports.main = async () => {');
    expect(loadBundle(odd, env)).toBeUndefined();
    writeFileSync(odd, 'throw new Error("half installed");');
    expect(loadBundle(odd, env)).toBeUndefined();
  });
});
