/**
 * The local executor: one detached process per state directory (`node local-executor.js <stateDir>/local`),
 * started on demand by the local backend. It runs the queued jobs in FIFO order as cpus, memory and the
 * job cap allow, starts the next one as soon as a job's process exits, and exits by itself after being
 * idle (nothing queued or running) for RUNCTRL_LOCAL_IDLE_EXIT_S seconds (default 300).
 *
 * Crash safety (see local-files.ts for the files): a job is claimed by renaming queue/ → run/ before it is
 * spawned; the job script claims jobs/<token>.pid by creating it exclusively before it does anything, so a
 * second copy of it exits at once. A restarted executor therefore adopts every job in run/ whose process
 * lives (pid + script in /proc), ends those whose process is gone, and spawns again those that never
 * claimed their pid file — at worst a copy that loses the claim. Jobs run in their own session, so they
 * outlive the executor.
 *
 * Secrets: the variables named in RUNCTRL_LOCAL_SECRET_NAMES are taken out of the executor's environment
 * and given only to the jobs that name them.
 */
import { spawn } from 'node:child_process';
import { watch, writeFileSync, type FSWatcher } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fault } from '../util/fault.js';
import { atomicWrite, readExitCodeFileSync } from './common.js';
import { Launcher, launcherWanted, type LaunchResult } from './local-launcher.js';
import { KILL_AFTER_S, limitMarkFile, walltimeDeadline } from './local-limits.js';
import {
  capacity,
  impossible,
  LocalFiles,
  lockName,
  runsScript,
  terminate,
  type Capacity,
  type EndedJob,
  type QueuedJob,
} from './local-files.js';

interface Slot {
  job: QueuedJob;
  /** The process to watch: our child, or an adopted one (polled). */
  pid?: number;
  adopted: boolean;
  killed: boolean;
  /** When the job's process started (ms): its wall time counts from it. */
  startedAt?: number;
  /** When it was sent SIGTERM at its wall time (SIGKILL follows KILL_AFTER_S later, by a timer). */
  termAt?: number;
}

const POLL_MS = 100;

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}

export class Executor {
  private readonly running = new Map<string, Slot>();
  private scheduling = false;
  private again = false;
  private idleSince = Date.now();
  private readonly watchers: FSWatcher[] = [];
  /** Starts the jobs (local-launcher.ts); undefined: the executor spawns them itself. */
  private launcher: Launcher | undefined;
  /** Running jobs by pid, for the launcher's exit lines. */
  private readonly byPid = new Map<number, string>();

  constructor(
    private readonly files: LocalFiles,
    private readonly cap: Capacity,
    private readonly baseEnv: NodeJS.ProcessEnv,
    private readonly secrets: Record<string, string>,
    private readonly idleMs: number,
    private readonly onIdle: () => Promise<boolean>,
  ) {}

  async start(): Promise<void> {
    await this.files.ensure();
    this.launcher = this.newLauncher();
    await this.recover();
    this.watchers.push(
      watch(this.files.dir('queue'), (_e, f) => {
        if (f !== null && !f.startsWith('.') && f.endsWith('.json')) this.arrivals.push(f.slice(0, -5));
        this.schedule();
      }),
      watch(this.files.dir('cancel'), () => this.schedule()),
    );
    setInterval(() => void this.tick(), POLL_MS);
    this.schedule();
  }

  /** Jobs left in run/ by an earlier executor: adopt, end, or start again (see the header). */
  private async recover(): Promise<void> {
    for (const token of await this.files.tokens('run')) {
      if (await this.files.exists('done', token)) {
        await this.files.remove('run', token);
        continue;
      }
      const job = await this.files.read('run', token);
      if (!job) continue;
      const slot = this.slot(job, true);
      const claimed = await this.files.claimedPid(token);
      const pid = claimed ?? job.pid;
      if (pid !== undefined && runsScript(pid, job.script)) {
        slot.pid = pid; // running (or about to claim its pid file): watch it
        slot.startedAt = this.files.claimedAt(token) ?? Date.now();
        log(`adopted ${job.name} (${token}): pid ${pid}`);
      } else if (claimed !== undefined) {
        await this.finish(token); // it ran and ended meanwhile
      } else {
        this.running.delete(token); // never claimed its pid file: start it (again)
        log(`restarting ${job.name} (${token})`);
        await this.spawnJob(job);
      }
    }
  }

  private slot(job: QueuedJob, adopted: boolean): Slot {
    const s: Slot = { job, adopted, killed: false };
    this.running.set(job.token, s);
    return s;
  }

  private ticking = false;
  private ticks = 0;
  /** The queue in FIFO order, read again every second; arrivals come from inotify in between. */
  private queue: string[] | undefined;
  /** Queued records read while they waited for room (a queue record is written once; a cancel drops it). */
  private readonly waiting = new Map<string, QueuedJob>();
  private arrivals: string[] = [];

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.tickOnce();
    } finally {
      this.ticking = false;
    }
  }

  private async tickOnce(): Promise<void> {
    if (++this.ticks % 10 === 0) this.queue = undefined;
    for (const [token, s] of this.running) {
      if (s.adopted && s.pid !== undefined && !runsScript(s.pid, s.job.script))
        await this.onExit(token, s.pid);
    }
    this.enforceWalltimes(Date.now());
    this.schedule();
    if (this.running.size > 0 || (await this.files.tokens('queue')).length > 0) this.idleSince = Date.now();
    else if (Date.now() - this.idleSince > this.idleMs && (await this.onIdle())) process.exit(0);
  }

  /**
   * walltime_min: at the limit the `timeout` mark (before the job can end, so its end record finds it), then
   * SIGTERM to its process group, and SIGKILL to what is left of the group KILL_AFTER_S later (also when the job
   * script has ended by then). A restarted executor does the same from the job's start (its pid file's time).
   */
  private enforceWalltimes(now: number): void {
    for (const s of this.running.values()) {
      const pid = s.pid;
      if (pid === undefined || s.startedAt === undefined || s.termAt !== undefined) continue;
      const deadline = walltimeDeadline(s.startedAt, s.job.walltimeS);
      if (deadline === undefined || now < deadline) continue;
      try {
        writeFileSync(limitMarkFile(s.job.exitCodeFile), 'timeout\n');
      } catch (err) {
        log(`${s.job.name}: the timeout mark cannot be written: ${String(err)}`);
      }
      log(`${s.job.name} (${s.job.token}): walltime ${s.job.walltimeS ?? 0} s reached: SIGTERM`);
      s.termAt = now;
      terminate(pid);
      setTimeout(() => terminate(pid, 'SIGKILL'), KILL_AFTER_S * 1000);
    }
  }

  /** Runs fill() once at a time; a request meanwhile runs it again after. */
  schedule(): void {
    if (this.scheduling) {
      this.again = true;
      return;
    }
    this.scheduling = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.reapCancels();
          await this.fill();
        } while (this.again);
      } catch (err) {
        log(`schedule: ${String(err)}`);
      } finally {
        this.scheduling = false;
      }
    })();
  }

  private used(): { cpus: number; memoryMb: number; jobs: number } {
    let cpus = 0;
    let memoryMb = 0;
    for (const s of this.running.values()) {
      cpus += s.job.cpus;
      memoryMb += s.job.memoryMb;
    }
    return { cpus, memoryMb, jobs: this.running.size };
  }

  private fits(job: QueuedJob): boolean {
    const u = this.used();
    if (u.jobs === 0) return true;
    return (
      u.jobs < this.cap.maxRunning &&
      u.cpus + job.cpus <= this.cap.cpus &&
      u.memoryMb + job.memoryMb <= this.cap.memoryMb
    );
  }

  /** Starts queued jobs in FIFO order while the first one fits (no overtaking: big jobs do not starve). */
  private async queued(): Promise<string[]> {
    const arrived = this.arrivals;
    this.arrivals = [];
    if (this.queue === undefined) {
      this.queue = await this.files.tokens('queue');
      const listed = new Set(this.queue);
      for (const t of this.waiting.keys()) if (!listed.has(t)) this.waiting.delete(t); // cancelled meanwhile
    } else if (arrived.length > 0) this.queue = [...new Set([...this.queue, ...arrived])].sort();
    return this.queue;
  }

  private async fill(): Promise<void> {
    for (const token of [...(await this.queued())]) {
      const job = this.waiting.get(token) ?? (await this.files.read('queue', token));
      const claimed = job !== undefined && (impossible(job, this.cap) !== undefined || this.fits(job));
      if (job !== undefined && !claimed) {
        this.waiting.set(token, job); // the head waits for room: not read again at every tick
        return;
      }
      this.waiting.delete(token);
      this.queue = this.queue?.filter((t) => t !== token);
      if (!job || !(await this.files.move('queue', 'run', token))) continue; // cancelled meanwhile
      const why = impossible(job, this.cap);
      if (why !== undefined || (await this.files.exists('cancel', token))) {
        this.slot(job, false);
        await this.finish(token, why ?? 'cancelled before it started');
        continue;
      }
      await this.spawnJob(job);
    }
  }

  /** The secret variables a job names, with their values. */
  private jobSecrets(job: QueuedJob): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of job.secretNames) {
      const v = this.secrets[k];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  private newLauncher(): Launcher | undefined {
    if (!launcherWanted(this.baseEnv)) return undefined;
    const l = new Launcher(
      this.baseEnv,
      (pid) => {
        const token = this.byPid.get(pid);
        this.byPid.delete(pid);
        if (token !== undefined) void this.onExit(token, pid);
      },
      () => this.launcherGone(l),
    );
    return l;
  }

  /** The launcher ended: its jobs are watched through /proc (as adopted ones) and the next start makes a new one. */
  private launcherGone(l: Launcher): void {
    if (this.launcher === l) this.launcher = undefined;
    log('the launcher ended: its jobs are watched through /proc');
    for (const [token, s] of this.running) {
      if (s.pid !== undefined && this.byPid.get(s.pid) === token) s.adopted = true;
    }
  }

  /**
   * /bin/sh <script> in its own session: through the launcher, else spawned by this process. `onPid` is called
   * as soon as the pid is known, before any exit of it is handled.
   */
  private async launch(job: QueuedJob, onPid: (pid: number) => void): Promise<LaunchResult> {
    this.launcher ??= this.newLauncher();
    const launcher = this.launcher;
    if (launcher?.running) {
      const r = await launcher.start(job.token, job.script, this.jobSecrets(job), (pid) => {
        this.byPid.set(pid, job.token);
        onPid(pid);
      });
      // a fork that failed is the job's end; a launcher that died meanwhile may have forked it or not: it is
      // started again here, and the pid claim lets only one copy run (onExit follows the one that won)
      if ('pid' in r || launcher.running) return r;
    }
    const child = spawn('/bin/sh', [job.script], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: { ...this.baseEnv, ...this.jobSecrets(job) },
    });
    const pid = child.pid;
    if (pid === undefined) {
      return new Promise((resolve) =>
        child.on('error', (err) => resolve({ error: `could not start /bin/sh: ${err.message}` })),
      );
    }
    child.on('error', () => undefined);
    child.on('exit', () => void this.onExit(job.token, pid));
    onPid(pid);
    return { pid };
  }

  /** Starts a job (its pid lives in its claim, jobs/<token>.pid: the run/ record is not written again). */
  private async spawnJob(job: QueuedJob): Promise<void> {
    const slot = this.slot(job, false);
    const started = await this.launch(job, (pid) => {
      slot.pid = pid;
      slot.startedAt = Date.now();
    });
    if ('error' in started) {
      await this.finish(job.token, started.error);
      return;
    }
    if (await this.files.exists('cancel', job.token)) this.kill(slot);
  }

  /** A job's process ended: if it was a copy that lost the claim, watch the one that won. */
  private async onExit(token: string, pid: number): Promise<void> {
    const slot = this.running.get(token);
    if (!slot || slot.pid !== pid) return;
    const claimed = await this.files.claimedPid(token);
    if (claimed !== undefined && claimed !== pid && runsScript(claimed, slot.job.script)) {
      slot.pid = claimed;
      slot.adopted = true;
      return;
    }
    fault('local-after-exit'); // crash tests: killed between a job's exit and its end record
    await this.finish(
      token,
      claimed === undefined ? 'the job script ended before it started' : undefined,
      claimed,
    );
  }

  /**
   * done/ first, then run/ and the cancel request go: a reader always finds the job. The slot is given to the
   * next job at once, while this one's end is recorded. Killed before done/ is written (fault point
   * local-after-exit in onExit), the next executor finds the job in run/ with its process gone and records its
   * end then, from the exit-code file (recover).
   */
  private async finish(token: string, reason?: string, claimedPid?: number): Promise<void> {
    const slot = this.running.get(token);
    if (!slot) return;
    this.running.delete(token);
    this.schedule();
    const claimed = claimedPid ?? (await this.files.claimedPid(token));
    const exitCode = claimed === undefined ? undefined : readExitCodeFileSync(slot.job.exitCodeFile);
    const cancelled = await this.files.exists('cancel', token);
    const ended: EndedJob = {
      ...slot.job,
      endedAt: Date.now(),
      ...(exitCode !== undefined ? { exitCode } : {}),
      ...(cancelled ? { cancelled } : {}),
      ...(reason !== undefined ? { reason } : {}),
    };
    await this.files.write('done', token, ended);
    await this.files.remove('run', token);
    if (cancelled) await this.files.remove('cancel', token);
    log(
      `ended ${slot.job.name} (${token}): ${exitCode ?? reason ?? 'no exit code'}${cancelled ? ', cancelled' : ''}`,
    );
  }

  private kill(slot: Slot): void {
    if (slot.killed || slot.pid === undefined) return;
    slot.killed = true;
    terminate(slot.pid);
  }

  private async reapCancels(): Promise<void> {
    for (const token of await this.files.tokens('cancel')) {
      this.waiting.delete(token);
      const slot = this.running.get(token);
      if (slot) this.kill(slot);
      else if (await this.files.exists('done', token)) await this.files.remove('cancel', token);
    }
  }
}

/** Binds the lock name; false when another executor holds it. */
function listen(server: net.Server, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(name, () => resolve(true));
  });
}

/** The secret variables (named in RUNCTRL_LOCAL_SECRET_NAMES) out of the environment. */
function splitSecrets(env: NodeJS.ProcessEnv): { base: NodeJS.ProcessEnv; secrets: Record<string, string> } {
  const names = (env.RUNCTRL_LOCAL_SECRET_NAMES ?? '').split(',').filter((n) => n !== '');
  const base = { ...env };
  delete base.RUNCTRL_LOCAL_SECRET_NAMES;
  const secrets: Record<string, string> = {};
  for (const n of names) {
    const v = base[n];
    if (v !== undefined) secrets[n] = v;
    delete base[n];
  }
  return { base, secrets };
}

async function main(root: string): Promise<void> {
  const files = new LocalFiles(root);
  const name = lockName(root);
  let server = net.createServer((c) => c.end());
  if (!(await listen(server, name))) return; // another executor runs for this directory
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  const { base, secrets } = splitSecrets(process.env);
  const idleS = Number(process.env.RUNCTRL_LOCAL_IDLE_EXIT_S ?? '300');
  await files.ensure();
  const info = { pid: process.pid, startedAt: Date.now(), secretNames: Object.keys(secrets) };
  await atomicWrite(path.join(root, 'executor.json'), JSON.stringify(info));
  // Idle: release the lock first, then look again, so a job queued meanwhile is never left alone.
  const onIdle = async (): Promise<boolean> => {
    await new Promise<void>((r) => server.close(() => r()));
    if ((await files.tokens('queue')).length === 0 && (await files.tokens('run')).length === 0) return true;
    server = net.createServer((c) => c.end());
    return !(await listen(server, name));
  };
  const cap = capacity(base);
  log(
    `executor ${process.pid} for ${root}: ${cap.cpus} cpus, ${cap.memoryMb} MB, ${cap.maxRunning} jobs at most`,
  );
  await new Executor(
    files,
    cap,
    base,
    secrets,
    (Number.isFinite(idleS) ? idleS : 300) * 1000,
    onIdle,
  ).start();
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const root = process.argv[2];
  if (root === undefined) {
    process.stderr.write('usage: local-executor.js <stateDir>/local\n');
    process.exit(2);
  }
  void main(root);
}
