/**
 * Test harness around the fake batch commands in test/fakes: a fresh $FAKE_BATCH_DIR, the environment that
 * puts the fakes first on PATH, the call log, behavior knobs, direct edits of job records, and cleanup that
 * kills every job process the fakes started (by recorded pid/process group). FAKE_KEEP=1 keeps the directories.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FAKES_DIR = path.resolve(import.meta.dirname, '..', 'fakes');

export interface FakeCall {
  cmd: string;
  args: string[];
  at: number;
}

export interface FakeJobRecord {
  key: string;
  system: string;
  state: string;
  pid?: number;
  exitCode?: number | null;
  override?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface InjectedOutput {
  stdout?: string;
  stderr?: string;
  /** Relative to test/fixtures. */
  stdoutFile?: string;
  stderrFile?: string;
  code?: number;
  hangMs?: number;
  times?: number;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class FakeBatch {
  readonly root: string;
  /** $FAKE_BATCH_DIR */
  readonly dir: string;
  /** The backend's stateDir. */
  readonly stateDir: string;
  /** Job work dirs / outputs (conformance workRoot). */
  readonly workRoot: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(label: string, behavior: Record<string, unknown> = {}, extraEnv: NodeJS.ProcessEnv = {}) {
    this.root = mkdtempSync(path.join(os.tmpdir(), `runctrl-fake-${label}-`));
    this.dir = path.join(this.root, 'batch');
    this.stateDir = path.join(this.root, 'state');
    this.workRoot = path.join(this.root, 'work');
    for (const d of [this.dir, this.stateDir, this.workRoot]) mkdirSync(d, { recursive: true });
    this.env = {
      ...process.env,
      ...extraEnv,
      PATH: `${FAKES_DIR}${path.delimiter}${process.env.PATH ?? ''}`,
      FAKE_BATCH_DIR: this.dir,
    };
    // Loading an extra CA bundle costs every fake command (a Node process) ~100 ms at start; they make no TLS.
    delete this.env.NODE_EXTRA_CA_CERTS;
    this.setBehavior({ maxRuntimeMs: 60_000, ...behavior });
  }

  private withLock<T>(fn: () => T): T {
    const lock = path.join(this.dir, '.lock');
    for (let i = 0; ; i++) {
      try {
        mkdirSync(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        try {
          if (Date.now() - statSync(lock).mtimeMs > 10_000) rmSync(lock, { recursive: true, force: true });
        } catch {
          // gone meanwhile
        }
        if (i > 4000) throw new Error('fake batch lock timeout');
        sleepSync(3);
      }
    }
    try {
      return fn();
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }

  private writeJson(file: string, value: unknown): void {
    const tmp = `${file}.tmp.${process.pid}`;
    writeFileSync(tmp, JSON.stringify(value, null, 1));
    renameSync(tmp, file);
  }

  behavior(): Record<string, unknown> {
    try {
      return JSON.parse(readFileSync(path.join(this.dir, 'behavior.json'), 'utf8')) as Record<
        string,
        unknown
      >;
    } catch {
      return {};
    }
  }

  setBehavior(b: Record<string, unknown>): void {
    this.withLock(() => this.writeJson(path.join(this.dir, 'behavior.json'), b));
  }

  patchBehavior(patch: Record<string, unknown>): void {
    this.withLock(() => {
      const b = this.behavior();
      const next: Record<string, unknown> = { ...b };
      for (const [k, v] of Object.entries(patch)) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      this.writeJson(path.join(this.dir, 'behavior.json'), next);
    });
  }

  /** The next call(s) of `cmd` print this and exit with its code. */
  inject(cmd: string, out: InjectedOutput): void {
    this.withLock(() => {
      const b = this.behavior();
      const inject = (b.inject ?? {}) as Record<string, InjectedOutput[]>;
      inject[cmd] = [...(inject[cmd] ?? []), out];
      this.writeJson(path.join(this.dir, 'behavior.json'), { ...b, inject });
    });
  }

  calls(cmd?: string): FakeCall[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.dir, 'calls.jsonl'), 'utf8');
    } catch {
      return [];
    }
    const all = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as FakeCall);
    return cmd === undefined ? all : all.filter((c) => c.cmd === cmd);
  }

  jobs(): FakeJobRecord[] {
    const dir = path.join(this.dir, 'jobs');
    let files: string[] = [];
    try {
      files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
    return files.map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as FakeJobRecord);
  }

  /** Edits one job record (e.g. sets `override`) under the fakes' lock. */
  updateJob(key: string, fn: (job: FakeJobRecord) => void): void {
    this.withLock(() => {
      const file = path.join(this.dir, 'jobs', `${encodeURIComponent(key)}.json`);
      const job = JSON.parse(readFileSync(file, 'utf8')) as FakeJobRecord;
      fn(job);
      this.writeJson(file, job);
    });
  }

  /** Kills every job process still running (SIGKILL to its process group, pid recorded by the runner). */
  killAll(): void {
    const runs = path.join(this.dir, 'run');
    let dirs: string[] = [];
    try {
      dirs = readdirSync(runs);
    } catch {
      return;
    }
    for (const d of dirs) {
      let pid: number;
      try {
        if (statSync(path.join(runs, d, 'exit'), { throwIfNoEntry: false })) continue;
        pid = Number(readFileSync(path.join(runs, d, 'pid'), 'utf8').trim());
      } catch {
        continue;
      }
      if (!Number.isInteger(pid) || pid <= 1) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  async cleanup(): Promise<void> {
    this.killAll();
    await new Promise((r) => setTimeout(r, 100));
    this.killAll();
    if (!process.env.FAKE_KEEP) rmSync(this.root, { recursive: true, force: true });
  }
}

/** Polls until fn() returns a value that is not undefined (or throws on timeout). */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
