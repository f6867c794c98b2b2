/**
 * Starts the CLI from its bundle (dist/runctrl.cjs, scripts/cli-bundle.mjs) with a V8 code cache, so that a
 * fresh process does not parse and compile again the code the previous ones compiled. The cache is a file
 * under $XDG_CACHE_HOME/runctrl (else ~/.cache/runctrl), named after the bundle's size and times and the Node
 * version; V8 refuses a cache that does not match the source, and then the code is compiled as usual. The
 * cache is written after a command that compiled more than the cache held (temp file + rename), never on the
 * way of the command's output, and the caches of other builds are then removed; any failure to read or write it
 * only costs speed. RUNCTRL_CODE_CACHE=0 turns it
 * off. Node builtins only: this module runs before anything else is loaded.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';

type Main = (argv: string[]) => Promise<number>;
interface BundleExports {
  main?: Main;
  setImporter?: (fn: (url: string) => Promise<unknown>) => void;
}

function cacheDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'runctrl');
}

function readOr<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/**
 * The CLI's main() from the bundle, and a function that saves the code cache once the command has run; undefined
 * when there is no bundle, or when `compiled` (dist/cli/main.js) is newer than it: the caller imports
 * dist/cli/main.js instead.
 */
export function loadBundle(
  bundle: string,
  env: NodeJS.ProcessEnv = process.env,
  compiled?: string,
): { main: Main; save: () => void } | undefined {
  const st = readOr(() => statSync(bundle), undefined);
  if (!st) return undefined;
  // dist/ compiled again (tsc alone) after the bundle was made: the bundle is stale, the compiled code wins
  if (compiled !== undefined && readOr(() => statSync(compiled).mtimeMs, 0) > st.mtimeMs) return undefined;
  const useCache = env.RUNCTRL_CODE_CACHE !== '0';
  // V8 checks only the source's length: the name tells the bundle's versions apart (a copy or rewrite changes ctime)
  const id = `${st.size}-${Math.trunc(st.mtimeMs)}-${Math.trunc(st.ctimeMs)}`;
  const file = path.join(cacheDir(env), `cli-${process.version}-${id}.v8`);
  const cached = useCache ? readOr(() => readFileSync(file), undefined) : undefined;
  let script: vm.Script;
  const mod = { exports: {} as BundleExports };
  try {
    script = new vm.Script(Module.wrap(readFileSync(bundle, 'utf8')), {
      filename: bundle,
      ...(cached ? { cachedData: cached } : {}),
    });
    const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
    wrapper.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, path.dirname(bundle));
  } catch {
    return undefined; // an unreadable or broken bundle: the compiled modules serve
  }
  const { main, setImporter } = mod.exports;
  if (typeof main !== 'function' || typeof setImporter !== 'function') return undefined;
  // code restored from a V8 code cache cannot call import() (Node 20): handler modules are imported from here
  setImporter((url) => import(url));
  const save = (): void => {
    if (!useCache) return;
    const data = readOr(() => script.createCachedData(), undefined);
    // the cache grows as commands compile more of the code; rewrite it when it would hold a tenth more
    if (!data || (cached && !script.cachedDataRejected && data.length < cached.length * 1.1)) return;
    readOr(() => {
      // one level at a time (a recursive mkdir under /proc never returns in Node 20)
      const dir = path.dirname(file);
      for (const d of [path.dirname(dir), dir]) readOr(() => mkdirSync(d), undefined);
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, data);
      renameSync(tmp, file);
      // the caches of other builds or Node versions (and temp files of killed writers) are of no more use
      for (const f of readdirSync(dir))
        if (f.startsWith('cli-') && f !== path.basename(file)) rmSync(path.join(dir, f), { force: true });
    }, undefined);
  };
  return { main, save };
}
