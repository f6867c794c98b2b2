/**
 * Simulated hosts for fail-over tests (root only): each host is a network namespace with only its loopback
 * and its own host name (a UTS namespace per process), so that loops on two "hosts" share nothing but the
 * file system. The host's InfluxDB and slurmctld are reached through a relay: 127.0.0.1:PORT inside the
 * namespace → a Unix socket (the file system is shared) → 127.0.0.1:PORT of the host (netns-relay.mjs).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const RELAY = path.join(import.meta.dirname, 'netns-relay.mjs');

export interface SimHost {
  name: string;
  ns: string;
}

export interface SimHosts {
  hosts: SimHost[];
  /** Spawns argv inside the host's namespace, under the host's name. */
  spawn(host: SimHost, argv: string[], env: NodeJS.ProcessEnv): ChildProcess;
  stop(): void;
}

async function ready(p: ChildProcess, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 20_000);
    p.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('exit', (code) => reject(new Error(`${what} exited (${code}): ${out}`)));
  });
}

export async function startHosts(names: string[], ports: number[]): Promise<SimHosts> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-hosts-'));
  const tag = randomBytes(3).toString('hex');
  const hosts = names.map((name) => ({ name, ns: `rc-${tag}-${name}` }));
  const procs: ChildProcess[] = [];
  const relay = (argv: string[]): ChildProcess => {
    const p = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    return p;
  };
  const stop = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    for (const h of hosts) {
      try {
        execFileSync('ip', ['netns', 'del', h.ns], { stdio: 'ignore' });
      } catch {
        /* not made */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready(relay([process.execPath, RELAY, 'host', dir, ...ports.map(String)]), 'host relay');
    for (const h of hosts) {
      execFileSync('ip', ['netns', 'add', h.ns]);
      execFileSync('ip', ['netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up']);
      // glibc's getaddrinfo (AI_ADDRCONFIG) resolves no name where the only addresses are loopback ones: Slurm's
      // clients then cannot resolve 'localhost'. An address of the namespace's own, on its loopback, reaches nothing.
      execFileSync('ip', ['netns', 'exec', h.ns, 'ip', 'addr', 'add', '10.254.0.1/32', 'dev', 'lo']);
      const argv = ['ip', 'netns', 'exec', h.ns, process.execPath, RELAY, 'ns', dir, ...ports.map(String)];
      await ready(relay(argv), `relay in ${h.ns}`);
    }
  } catch (err) {
    stop();
    throw err;
  }
  return {
    hosts,
    spawn: (host, argv, env) => {
      const p = spawn(
        'ip',
        [
          'netns',
          'exec',
          host.ns,
          'unshare',
          '--uts',
          'sh',
          '-c',
          'hostname "$0" && exec "$@"',
          host.name,
          ...argv,
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      procs.push(p);
      return p;
    },
    stop,
  };
}
