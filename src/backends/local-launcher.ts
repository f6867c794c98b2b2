/**
 * The local executor's launcher: one small long-lived process (Perl, which Debian always has: perl-base is
 * essential) that forks the jobs, so that the executor does not fork itself — a fork of a Node process copies
 * its page tables and blocks its event loop for milliseconds per job. Without Perl (or with
 * RUNCTRL_LOCAL_LAUNCHER=node) the executor spawns the jobs itself, as before.
 *
 * Protocol, one line each way per event, over the launcher's stdin and stdout (a private pipe: the secrets a job
 * needs travel through it, never through a file):
 *   executor → launcher   `<token>\t<script>[\t<NAME>=<hex value>…]`   start `/bin/sh <script>` in its own session
 *   launcher → executor   `started <token> <pid>` | `failed <token> <errno text>` | `exit <pid>`
 * SIGCHLD is blocked from the fork until `started` is written, so a job's `exit` always follows its `started`.
 * The ended jobs are reaped by the SIGCHLD handler and again before every wait for input: Perl runs a handler
 * only between its ops, so a SIGCHLD that arrives just before the launcher blocks in its read would wait for
 * the next input — and with every slot held by an unreaped job, none comes (the executor hung so once, in
 * bench:flow). While jobs run, the wait therefore lasts 50 ms at most.
 * The launcher ends when its stdin closes (the executor is gone); the jobs live on, adopted by the next executor.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

const PERL = '/usr/bin/perl';

const SCRIPT = String.raw`
use strict; use warnings; use POSIX ();
$| = 1; $SIG{PIPE} = 'IGNORE';
my $chld = POSIX::SigSet->new(POSIX::SIGCHLD());
my $kids = 0;
sub reap { while ((my $p = waitpid(-1, POSIX::WNOHANG())) > 0) { $kids--; print "exit $p\n" or exit 0 } }
$SIG{CHLD} = \&reap;
my $buf = '';
my $rin = ''; vec($rin, fileno(STDIN), 1) = 1;
sub next_line {
  for (;;) {
    if ((my $nl = index($buf, "\n")) >= 0) { my $l = substr($buf, 0, $nl); substr($buf, 0, $nl + 1) = ''; return $l }
    reap();
    my $ready = select(my $r = $rin, undef, undef, $kids > 0 ? 0.05 : undef);
    next if $ready <= 0;
    my $n = sysread(STDIN, $buf, 65536, length $buf);
    if (!defined $n) { next if $!{EINTR}; exit 0 }
    exit 0 if $n == 0;
  }
}
for (;;) {
  my $line = next_line();
  my ($token, $script, @env) = split /\t/, $line;
  next unless defined $script;
  POSIX::sigprocmask(POSIX::SIG_BLOCK(), $chld);
  my $pid = fork();
  if (!defined $pid) { print "failed $token $!\n"; POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld); next }
  if ($pid == 0) {
    $SIG{CHLD} = 'DEFAULT'; $SIG{PIPE} = 'DEFAULT';
    POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld);
    POSIX::setsid();
    for my $kv (@env) { my ($k, $v) = split /=/, $kv, 2; $ENV{$k} = pack('H*', $v // '') }
    chdir '/';
    open(STDIN, '<', '/dev/null'); open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
    exec('/bin/sh', $script) or POSIX::_exit(127);
  }
  $kids++;
  print "started $token $pid\n" or exit 0;
  POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), $chld);
}
`;

export type LaunchResult = { pid: number } | { error: string };

/** True when the executor should start its jobs through the launcher. */
export function launcherWanted(env: NodeJS.ProcessEnv): boolean {
  return env.RUNCTRL_LOCAL_LAUNCHER !== 'node' && existsSync(PERL);
}

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

export class Launcher {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly starts = new Map<
    string,
    { resolve: (r: LaunchResult) => void; onPid: (pid: number) => void }
  >();
  private alive = true;

  /**
   * `onExit(pid)`: a job it started ended. `onGone()`: the launcher itself ended (its jobs live on, and must be
   * watched some other way; the waiting starts are answered with an error).
   */
  constructor(
    env: NodeJS.ProcessEnv,
    private readonly onExit: (pid: number) => void,
    private readonly onGone: () => void,
  ) {
    this.child = spawn(PERL, ['-e', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env, cwd: '/' });
    this.child.on('error', () => this.gone());
    this.child.on('exit', () => this.gone());
    this.child.stdin.on('error', () => this.gone());
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`launcher: ${d.toString()}`));
    createInterface({ input: this.child.stdout }).on('line', (l) => this.line(l));
  }

  get running(): boolean {
    return this.alive;
  }

  private line(l: string): void {
    const [what, a, b] = l.split(' ', 3);
    if (what === 'exit') this.onExit(Number(a));
    else if (what === 'started' && a !== undefined) {
      // at once, before a later line (its exit) is handled
      this.starts.get(a)?.onPid(Number(b));
      this.answer(a, { pid: Number(b) });
    } else if (what === 'failed' && a !== undefined)
      this.answer(a, { error: l.slice(`failed ${a} `.length) });
  }

  private answer(token: string, r: LaunchResult): void {
    const waiting = this.starts.get(token);
    this.starts.delete(token);
    waiting?.resolve(r);
  }

  private gone(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const token of [...this.starts.keys()]) this.answer(token, { error: 'the launcher ended' });
    this.onGone();
  }

  /**
   * Starts `/bin/sh script` in its own session with `env` added (names: no tab, no `=`; values hex-encoded).
   * `onPid` is called with the pid as soon as it is known, before any `exit` line is handled.
   */
  start(
    token: string,
    script: string,
    env: Record<string, string>,
    onPid: (pid: number) => void,
  ): Promise<LaunchResult> {
    if (!this.alive) return Promise.resolve({ error: 'the launcher ended' });
    const vars = Object.entries(env).map(([k, v]) => `\t${k}=${hex(v)}`);
    return new Promise((resolve) => {
      this.starts.set(token, { resolve, onPid });
      this.child.stdin.write(`${token}\t${script}${vars.join('')}\n`);
    });
  }

  /** Idempotent: the launcher ends; its jobs do not. */
  close(): void {
    this.child.stdin.end();
  }
}
