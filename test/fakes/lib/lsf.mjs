// Fake LSF commands: bsub (script on stdin), bjobs (-o … -json), bkill.
// Formats follow the recorded outputs in test/fixtures/lsf (README.md there names the sources).
import fs from 'node:fs';
import path from 'node:path';
import {
  behavior,
  currentUser,
  emitInjection,
  listJobs,
  logCall,
  newJob,
  nextId,
  parseArgs,
  readStdin,
  removeJob,
  saveJob,
  startRunner,
  stateDir,
  takeInjection,
  withLock,
} from './common.mjs';

const SYSTEM = 'lsf';

export async function bsub(argv) {
  const dir = stateDir();
  const script = readStdin();
  logCall(dir, 'bsub', argv, { stdinBytes: script.length });
  const inj = takeInjection(dir, 'bsub');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { flags } = parseArgs(
    argv,
    new Set([
      '-J',
      '-q',
      '-n',
      '-M',
      '-W',
      '-P',
      '-o',
      '-e',
      '-oo',
      '-eo',
      '-R',
      '-cwd',
      '-G',
      '-g',
      '-app',
      '-sp',
    ]),
    new Set(['-R']),
  );
  const name = typeof flags['-J'] === 'string' ? flags['-J'] : 'NONAME';
  const queue = typeof flags['-q'] === 'string' ? flags['-q'] : undefined;
  if (queue !== undefined && Array.isArray(b.lsfQueues) && !b.lsfQueues.includes(queue)) {
    process.stderr.write(`${queue}: No such queue. Job not submitted.\n`);
    process.exitCode = 255;
    return;
  }
  const arr = /^(.*)\[(\d+)-(\d+)\]$/.exec(name);
  const created = withLock(dir, () => {
    const id = nextId(dir, 'lsf_job', b.firstJobId ?? 1000);
    const scriptFile = path.join(dir, 'scripts', `lsf-${id}.sh`);
    fs.mkdirSync(path.dirname(scriptFile), { recursive: true });
    fs.writeFileSync(scriptFile, script, { mode: 0o755 });
    const indices = arr ? range(Number(arr[2]), Number(arr[3])) : [0];
    const jobs = indices.map((index) => {
      const job = newJob(dir, {
        key: index ? `lsf-${id}[${index}]` : `lsf-${id}`,
        system: SYSTEM,
        jobId: id,
        index,
        name: arr ? `${arr[1]}[${index}]` : name,
        queue: queue ?? 'normal',
        script: scriptFile,
        cwd: process.cwd(),
        env: { LSB_JOBID: String(id), LSB_JOBINDEX: String(index), LSB_JOBNAME: name },
      });
      saveJob(dir, job);
      return job;
    });
    return { id, jobs };
  });
  for (const j of created.jobs) startRunner(dir, j);
  process.stdout.write(
    queue === undefined
      ? `Job <${created.id}> is submitted to default queue <normal>.\n`
      : `Job <${created.id}> is submitted to queue <${queue}>.\n`,
  );
}

function range(a, b) {
  const out = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

function statOf(job, b) {
  if (job.override?.STAT) return job.override.STAT;
  switch (job.state) {
    case 'queued':
    case 'held':
      return 'PEND';
    case 'running':
      return 'RUN';
    case 'removed':
      return job.endTime || !job.removed?.wasRunning ? 'EXIT' : 'RUN';
    default:
      if (job.endTime && b.lsfForgetMs !== undefined && Date.now() - job.endTime > b.lsfForgetMs)
        return 'FORGOTTEN';
      return job.exitCode === 0 && !job.signal ? 'DONE' : 'EXIT';
  }
}

function fieldValue(job, field, b) {
  const stat = statOf(job, b);
  switch (field) {
    case 'jobid':
    case 'id':
      return String(job.jobId);
    case 'jobindex':
      return String(job.index);
    case 'stat':
      return stat;
    case 'exit_code':
      if (stat !== 'EXIT') return '';
      if (job.exitCode !== undefined && job.exitCode !== null) return String(job.exitCode);
      return job.signal ? String(128 + ({ SIGTERM: 15, SIGKILL: 9, SIGINT: 2 }[job.signal] ?? 9)) : '';
    case 'exit_reason':
      if (job.state === 'removed') return 'TERM_OWNER: job killed by owner';
      return job.override?.EXIT_REASON ?? '';
    case 'pend_reason':
      return stat === 'PEND' ? 'New job is waiting for scheduling;' : '';
    case 'job_name':
    case 'name':
      return job.name;
    case 'user':
      return job.owner;
    case 'queue':
      return job.queue;
    default:
      return '';
  }
}

/** LSF escapes "/" in JSON strings ("\/home\/user"). */
function lsfString(s) {
  return JSON.stringify(String(s)).replace(/\//g, '\\/');
}

function bjobsJson(records) {
  const recs = records.map(
    (r) =>
      `    {\n${Object.entries(r)
        .map(([k, v]) => `      "${k}":${lsfString(v)}`)
        .join(',\n')}\n    }`,
  );
  return `{\n  "COMMAND":"bjobs",\n  "JOBS":${records.length},\n  "RECORDS":[\n${recs.join(',\n')}${recs.length ? '\n' : ''}  ]\n}\n`;
}

export async function bjobs(argv) {
  const dir = stateDir();
  logCall(dir, 'bjobs', argv);
  const inj = takeInjection(dir, 'bjobs');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { flags, positional } = parseArgs(argv, new Set(['-o', '-u', '-J', '-q', '-m', '-g', '-G', '-P']));
  const fields = String(flags['-o'] ?? 'jobid stat user queue job_name')
    .split(/\s+/)
    .filter(Boolean)
    .map((f) => f.replace(/:.*$/, '').toLowerCase());
  const all = listJobs(dir, SYSTEM).filter((j) => statOf(j, b) !== 'FORGOTTEN');
  const finished = (j) => ['DONE', 'EXIT'].includes(statOf(j, b));
  const records = [];
  const notFound = [];
  if (positional.length > 0) {
    for (const id of positional) {
      const m = /^(\d+)(?:\[(\d+)\])?$/.exec(id);
      const hits = m
        ? all.filter((j) => j.jobId === Number(m[1]) && (m[2] === undefined || j.index === Number(m[2])))
        : [];
      if (hits.length === 0) {
        notFound.push(id);
        records.push({ ERROR: `Job <${id}> is not found` });
      }
      for (const j of hits) records.push(record(j, fields, b));
    }
  } else {
    const user = typeof flags['-u'] === 'string' ? flags['-u'] : currentUser();
    for (const j of all) {
      if (user !== 'all' && j.owner !== user) continue;
      if (!flags['-a'] && finished(j)) continue;
      if (typeof flags['-J'] === 'string' && j.name !== flags['-J']) continue;
      records.push(record(j, fields, b));
    }
    if (records.length === 0 && !flags['-json']) {
      process.stderr.write(flags['-a'] ? 'No job found\n' : 'No unfinished job found\n');
      return;
    }
  }
  if (flags['-json']) {
    process.stdout.write(bjobsJson(records));
    return;
  }
  for (const id of notFound) process.stderr.write(`Job <${id}> is not found\n`);
  const rows = records.filter((r) => !r.ERROR);
  if (rows.length) {
    const head = fields.map((f) => f.toUpperCase());
    process.stdout.write(
      `${head.join(' ')}\n${rows.map((r) => head.map((h) => r[h] || '-').join(' ')).join('\n')}\n`,
    );
  }
}

function record(job, fields, b) {
  const r = {};
  for (const f of fields) r[f.toUpperCase()] = fieldValue(job, f, b);
  return r;
}

export async function bkill(argv) {
  const dir = stateDir();
  logCall(dir, 'bkill', argv);
  const inj = takeInjection(dir, 'bkill');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { positional } = parseArgs(argv, new Set(['-s', '-J', '-q', '-u', '-m']));
  let failed = false;
  for (const id of positional) {
    const m = /^(\d+)(?:\[(\d+)\])?$/.exec(id);
    const hits = m
      ? listJobs(dir, SYSTEM).filter(
          (j) =>
            statOf(j, b) !== 'FORGOTTEN' &&
            j.jobId === Number(m[1]) &&
            (m[2] === undefined || j.index === Number(m[2])),
        )
      : [];
    if (hits.length === 0) {
      process.stderr.write(`Job <${id}>: No matching job found\n`);
      failed = true;
      continue;
    }
    const live = hits.filter((j) => ['queued', 'held', 'running'].includes(j.state));
    if (live.length === 0) {
      process.stderr.write(`Job <${id}>: Job has already finished\n`);
      failed = true;
      continue;
    }
    for (const j of live) removeJob(dir, j.key, { reason: 'TERM_OWNER: job killed by owner' });
    process.stdout.write(`Job <${id}> is being terminated\n`);
  }
  if (failed) process.exitCode = 255;
}
