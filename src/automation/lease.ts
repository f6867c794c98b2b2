/**
 * Only one loop may act on a campaign at a time: a lease stored in InfluxDB (claims are points; the earliest
 * claim made while no valid lease existed wins, see `leaseHolder`), verified after writing, plus a local lock
 * file so that two loops on one machine do not even race.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { leaseHolder } from '../domain/jobs.js';
import { UserError } from '../errors.js';
import { leasePoint } from '../store/schema.js';
import type { Store } from '../store/store.js';

export function ownerId(): string {
  return `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock file; a stale one (its process gone) is taken over. */
export class LockFile {
  private held = false;
  constructor(readonly file: string) {}

  acquire(): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    for (let i = 0; i < 2; i++) {
      try {
        const fd = openSync(this.file, 'wx');
        writeSync(fd, `${process.pid} ${os.hostname()}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const [pidText, host] = readFileSync(this.file, 'utf8').trim().split(' ');
        const pid = Number(pidText);
        if (host === os.hostname() && Number.isInteger(pid) && pid > 0 && !alive(pid)) {
          unlinkSync(this.file);
          continue;
        }
        throw new UserError(
          `another runctrl loop holds ${this.file} (pid ${pidText ?? '?'} on ${host ?? '?'}): let it finish, or stop it first`,
        );
      }
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }
}

/** True for an owner id of this host whose process is gone. */
export function deadLocalOwner(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  return host === os.hostname() && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid);
}

export class Lease {
  private readonly owner = ownerId();
  private held: string[] = [];
  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
  ) {}

  get id(): string {
    return this.owner;
  }

  /** The scopes (campaigns) held since the last acquire. */
  get heldScopes(): string[] {
    return [...this.held];
  }

  /** Claims (or renews) the leases of these campaigns; throws a UserError naming the holder if another loop has one. */
  async acquire(scopes: string[]): Promise<void> {
    const now = Date.now();
    const since = now - 24 * 3600_000;
    const takeOver: string[] = [];
    const claims = await this.store.leasePointsByScope(since);
    for (const scope of scopes) {
      const before = leaseHolder(claims.get(scope) ?? [], now);
      if (!before || before.owner === this.owner) continue;
      if (deadLocalOwner(before.owner)) takeOver.push(before.owner, scope);
      else throw this.busy(scope, before.owner, before.expires);
    }
    // a loop of this host that died (SIGKILL, crash) left its lease: release it on its behalf
    const releases = [];
    for (let i = 0; i < takeOver.length; i += 2)
      releases.push(leasePoint(takeOver[i + 1] ?? '', takeOver[i] ?? '', 0));
    if (releases.length > 0) await this.store.write(releases);
    await this.store.write(scopes.map((s) => leasePoint(s, this.owner, now + this.ttlMs)));
    const written = await this.store.leasePointsByScope(since);
    for (const scope of scopes) {
      const after = leaseHolder(written.get(scope) ?? [], Date.now());
      if (!after || after.owner !== this.owner) {
        throw this.busy(scope, after?.owner ?? 'unknown', after?.expires ?? 0);
      }
    }
    this.held = scopes;
  }

  async release(): Promise<void> {
    if (this.held.length === 0) return;
    const scopes = this.held;
    this.held = [];
    await this.store.write(scopes.map((s) => leasePoint(s, this.owner, 0)));
  }

  private busy(scope: string, owner: string, expires: number): UserError {
    return new UserError(
      `campaign '${scope}' is being processed by another loop (${owner}, lease until ${new Date(expires).toISOString()}): wait for it to finish, or stop it`,
    );
  }
}
