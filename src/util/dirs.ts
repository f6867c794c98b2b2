/**
 * Directories runctrl writes to (the state directory, job and output roots), checked before anything is
 * written: created one level at a time (a recursive mkdir below /proc never returns in Node 20), and probed
 * with a file, so that an unusable directory is a one-line user error instead of a crash or a hang.
 */
import { accessSync, constants, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

/** The missing directories of `dir` from the top, after the nearest existing ancestor (which must be a dir). */
function missingLevels(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    let isDir: boolean;
    try {
      isDir = statSync(d).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${d}: ${errText(err)}`);
      missing.unshift(d);
      if (path.dirname(d) === d) throw new Error('no existing parent');
      continue;
    }
    if (!isDir) throw new Error(`${d} is not a directory`);
    return missing;
  }
}

/** Creates `dir` if needed and checks that files can be written in it; a UserError naming `what` otherwise. */
export function ensureWritableDir(dir: string, what: string, fix: string): void {
  const abs = path.resolve(dir);
  try {
    for (const d of missingLevels(abs)) mkdirSync(d);
    accessSync(abs, constants.W_OK | constants.X_OK);
    const probe = path.join(abs, `.runctrl-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (err) {
    throw new UserError(`${what} '${abs}' is not usable (${errText(err)}): ${fix}`);
  }
}
