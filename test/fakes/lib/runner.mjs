// Runs one fake batch job in the background: waits startDelayMs, runs `/bin/sh <script>` in its own process
// group with the job's environment, records pid, start, exit code / signal and end time in the job record.
// A job never outlives behavior.maxRuntimeMs (default 180 s), so a crashed test leaves nothing running.
import { spawn } from 'node:child_process';
import { behavior, loadJob, sleep, updateJob } from './common.mjs';

const [dir, key] = process.argv.slice(2);
const b = behavior(dir);
await sleep(b.startDelayMs ?? 0);

let job = loadJob(dir, key);
let started = false;
job = updateJob(dir, key, (j) => {
  if (j.state !== 'queued') return false;
  j.state = 'running';
  j.startTime = Date.now();
  j.stateTime = j.startTime;
  started = true;
});
if (!started) process.exit(0);

const child = spawn('/bin/sh', [job.script], {
  cwd: job.cwd || dir,
  env: { ...process.env, ...job.env },
  detached: true,
  stdio: 'ignore',
});
updateJob(dir, key, (j) => {
  j.pid = child.pid;
});
// A remove that raced with the start: the record says removed but the process was not signalled yet.
const now = loadJob(dir, key);
if (now?.state === 'removed') {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

const limit = setTimeout(() => {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}, b.maxRuntimeMs ?? 180_000);

child.on('exit', (code, signal) => {
  clearTimeout(limit);
  updateJob(dir, key, (j) => {
    j.endTime = Date.now();
    j.exitCode = code;
    j.signal = signal;
    j.pid = undefined;
    if (j.state === 'running') {
      j.state = 'exited';
      j.stateTime = j.endTime;
    }
  });
  process.exit(0);
});
