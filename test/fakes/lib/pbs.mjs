// Fake PBS Pro / Torque commands: qsub, qstat, qdel. The flavour comes from behavior.json `pbsFlavour`
// or $FAKE_PBS_FLAVOUR ("pbspro", default, or "torque"). Formats follow test/fixtures/pbs (see README.md):
// PBS Pro `qstat -f -F json` (4-space indent, no space after ':'), Torque `qstat -x` XML on one line,
// the `qstat` table, and the recorded error lines with their exit codes (153 unknown job, 35 finished job).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  behavior,
  emitInjection,
  listJobs,
  logCall,
  newJob,
  nextId,
  parseArgs,
  removeJob,
  saveJob,
  startRunner,
  stateDir,
  takeInjection,
  withLock,
} from './common.mjs';

const SYSTEM = 'pbs';

function flavourOf(b) {
  return b.pbsFlavour ?? process.env.FAKE_PBS_FLAVOUR ?? 'pbspro';
}

function serverOf(b) {
  return b.pbsServer ?? (flavourOf(b) === 'torque' ? 'torque-head.example.org' : 'pbs-server.example.org');
}

export async function qsub(argv) {
  const dir = stateDir();
  logCall(dir, 'qsub', argv);
  const inj = takeInjection(dir, 'qsub');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const flavour = flavourOf(b);
  const server = serverOf(b);
  const { flags, positional } = parseArgs(
    argv,
    new Set(['-N', '-q', '-A', '-l', '-o', '-e', '-j', '-J', '-t', '-v', '-W', '-d', '-w', '-S', '-P', '-p']),
    new Set(['-l']),
  );
  const script = positional[positional.length - 1];
  if (!script || !fs.existsSync(script)) {
    process.stderr.write(`qsub: script file:: No such file or directory\n`);
    process.exitCode = 2;
    return;
  }
  if (flavour === 'torque' && flags['-J']) {
    process.stderr.write("qsub: invalid option -- 'J'\n");
    process.exitCode = 2;
    return;
  }
  const rangeFlag = flavour === 'pbspro' ? flags['-J'] : flags['-t'];
  const arr = typeof rangeFlag === 'string' ? /^(\d+)-(\d+)$/.exec(rangeFlag) : null;
  const name = typeof flags['-N'] === 'string' ? flags['-N'] : path.basename(script);
  const queue = typeof flags['-q'] === 'string' ? flags['-q'] : flavour === 'torque' ? 'batch' : 'workq';
  const created = withLock(dir, () => {
    const num = nextId(dir, 'pbs_job', b.firstJobId ?? 1000);
    const copy = path.join(dir, 'scripts', `pbs-${num}.sh`);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.copyFileSync(script, copy);
    const indices = arr ? range(Number(arr[1]), Number(arr[2])) : [0];
    const parentId = arr ? `${num}[].${server}` : `${num}.${server}`;
    const jobs = indices.map((index) => {
      const id = index ? `${num}[${index}].${server}` : parentId;
      const env = { PBS_JOBID: id, PBS_JOBNAME: name, PBS_O_WORKDIR: process.cwd(), PBS_QUEUE: queue };
      if (index) env[flavour === 'pbspro' ? 'PBS_ARRAY_INDEX' : 'PBS_ARRAYID'] = String(index);
      const job = newJob(dir, {
        key: `pbs-${id}`,
        system: SYSTEM,
        id,
        num,
        index,
        parentId: index ? parentId : undefined,
        name: index && flavour === 'torque' ? `${name}-${index}` : name,
        queue,
        script: copy,
        cwd: process.cwd(),
        env,
      });
      saveJob(dir, job);
      return job;
    });
    return { parentId, jobs };
  });
  for (const j of created.jobs) startRunner(dir, j);
  process.stdout.write(`${created.parentId}\n`);
}

function range(a, b) {
  const out = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

/** job_state letter, Exit_status and whether the server still knows the job. */
function view(job, b, flavour) {
  const now = Date.now();
  let state;
  let exit;
  switch (job.state) {
    case 'queued':
      state = 'Q';
      break;
    case 'held':
      state = 'H';
      break;
    case 'running':
      state = 'R';
      break;
    case 'removed':
      if (!job.endTime && job.removed?.wasRunning) state = 'E';
      else {
        state = 'F';
        if (job.removed?.wasRunning) exit = 256 + 15; // killed by SIGTERM (qdel)
      }
      break;
    default:
      if (job.endTime && now - job.endTime < (b.pbsExitingMs ?? 0)) state = 'E';
      else {
        state = 'F';
        exit = job.signal ? 256 + ({ SIGTERM: 15, SIGKILL: 9, SIGINT: 2 }[job.signal] ?? 9) : job.exitCode;
      }
  }
  if (state === 'F' && job.index) state = 'X';
  if (state === 'F' && flavour === 'torque') state = 'C';
  if (job.override?.job_state) state = job.override.job_state;
  if (job.override && 'Exit_status' in job.override) exit = job.override.Exit_status;
  const finished = ['F', 'X', 'C'].includes(state);
  const forgetMs = flavour === 'torque' ? b.torqueKeepCompletedMs : b.pbsHistoryMs;
  const forgotten = finished && forgetMs !== undefined && now - (job.endTime ?? job.stateTime) > forgetMs;
  return { state, exit, finished, forgotten };
}

function ctime(ms) {
  // PBS style: "Tue Oct  4 21:23:20 2022"
  const d = new Date(ms);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()];
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    d.getMonth()
  ];
  const two = (n) => String(n).padStart(2, '0');
  return `${day} ${mon} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** PBS Pro JSON value: 4-space indent, `"key":value`. */
function proJson(obj, indent = 0) {
  const pad = ' '.repeat(indent + 4);
  const entries = Object.entries(obj).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const body = entries
    .map(
      ([k, v]) =>
        `${pad}${JSON.stringify(k)}:${typeof v === 'object' ? proJson(v, indent + 4) : JSON.stringify(v)}`,
    )
    .join(',\n');
  return `{\n${body}\n${' '.repeat(indent)}}`;
}

function proJobObject(job, v, b, all) {
  const host = os.hostname();
  const o = {
    Job_Name: job.name,
    Job_Owner: `${job.owner}@${host}`,
    job_state: v.state,
    queue: job.queue,
    server: serverOf(b),
    ctime: ctime(job.submitTime),
    Output_Path: `${host}:/dev/null`,
    Priority: 0,
    qtime: ctime(job.submitTime),
    Rerunable: 'True',
  };
  if (job.startTime) o.stime = ctime(job.startTime);
  if (v.state === 'R' || v.state === 'E')
    o.comment = `Job run at ${ctime(job.startTime ?? job.submitTime)} on (${host}:ncpus=1)`;
  else if (v.state === 'Q') o.comment = 'Not Running: Insufficient amount of resource: ncpus';
  else if (v.finished)
    o.comment = `Job run at ${ctime(job.startTime ?? job.submitTime)} on (${host}:ncpus=1) and finished`;
  if (v.exit !== undefined) o.Exit_status = v.exit;
  if (job.index) o.array_index = job.index;
  if (job.isParent) {
    o.array = 'True';
    o.array_indices_submitted = `1-${all.length}`;
    const c = { Queued: 0, Running: 0, Exiting: 0, Expired: 0 };
    for (const s of all) {
      const sv = view(s, b, 'pbspro');
      if (sv.state === 'Q' || sv.state === 'H') c.Queued++;
      else if (sv.state === 'R') c.Running++;
      else if (sv.state === 'E') c.Exiting++;
      else c.Expired++;
    }
    o.array_state_count = `Queued:${c.Queued} Running:${c.Running} Exiting:${c.Exiting} Expired:${c.Expired}`;
  }
  return o;
}

function xmlEscape(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function torqueXmlJob(job, v, server) {
  const host = os.hostname();
  const parts = [
    ['Job_Id', job.id],
    ['Job_Name', job.name],
    ['Job_Owner', `${job.owner}@${host}`],
    ['job_state', v.state],
    ['queue', job.queue],
    ['server', server],
    ['Checkpoint', 'u'],
    ['ctime', Math.floor(job.submitTime / 1000)],
    ['Error_Path', `${host}:/dev/null`],
    ['Hold_Types', 'n'],
    ['Join_Path', 'n'],
    ['Keep_Files', 'n'],
    ['Mail_Points', 'a'],
    ['mtime', Math.floor(job.stateTime / 1000)],
    ['Output_Path', `${host}:/dev/null`],
    ['Priority', 0],
    ['qtime', Math.floor(job.submitTime / 1000)],
    ['Rerunable', 'True'],
  ];
  if (v.exit !== undefined) parts.push(['exit_status', v.exit]);
  if (job.startTime) parts.push(['start_time', Math.floor(job.startTime / 1000)]);
  if (v.finished && job.endTime) parts.push(['comp_time', Math.floor(job.endTime / 1000)]);
  return `<Job>${parts.map(([k, val]) => `<${k}>${xmlEscape(val)}</${k}>`).join('')}</Job>`;
}

function tableRow(flavour, job, v) {
  if (flavour === 'torque') {
    return `${job.id.padEnd(24).slice(0, 24)} ${job.name.padEnd(16).slice(0, 16)} ${job.owner.padEnd(15).slice(0, 15)} ${'0'.padStart(8)} ${v.state} ${job.queue}`;
  }
  return `${job.id.padEnd(17).slice(0, 17)} ${job.name.padEnd(16).slice(0, 16)} ${job.owner.padEnd(16).slice(0, 16)}  ${'0'.padStart(8)} ${v.state} ${job.queue}`;
}

const TABLE_HEAD = {
  torque:
    'Job ID                    Name             User            Time Use S Queue\n' +
    '------------------------- ---------------- --------------- -------- - -----\n',
  pbspro:
    'Job id            Name             User              Time Use S Queue\n' +
    '----------------  ---------------- ----------------  -------- - -----\n',
};

/** All PBS jobs plus one synthetic parent record per array. */
function allJobs(dir) {
  const jobs = listJobs(dir, SYSTEM);
  const parents = new Map();
  for (const j of jobs) {
    if (!j.parentId) continue;
    if (!parents.has(j.parentId)) {
      parents.set(j.parentId, { ...j, id: j.parentId, index: 0, isParent: true, members: [] });
    }
    parents.get(j.parentId).members.push(j);
  }
  for (const p of parents.values()) {
    const states = p.members.map((m) => m.state);
    p.state = states.includes('running')
      ? 'running'
      : states.every((s) => s === 'queued')
        ? 'queued'
        : states.some((s) => s === 'queued')
          ? 'running'
          : 'exited';
    p.exitCode = 0;
    p.endTime = Math.max(...p.members.map((m) => m.endTime ?? 0)) || undefined;
  }
  return { jobs, parents };
}

export async function qstat(argv) {
  const dir = stateDir();
  logCall(dir, 'qstat', argv);
  const inj = takeInjection(dir, 'qstat');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const flavour = flavourOf(b);
  if (argv.includes('--version')) {
    process.stdout.write(
      flavour === 'torque'
        ? 'Version: 6.1.3\nCommit: 1c5a7b1e7ebb5f5b4b0c5c0d8e4cd6b5ddb2a0b1\n'
        : 'pbs_version = 19.1.3\n',
    );
    return;
  }
  const { flags, positional } = parseArgs(argv, new Set(['-F', '-u', '-W']));
  if (flavour === 'torque' && flags['-F']) {
    process.stderr.write("qstat: invalid option -- 'F'\n");
    process.exitCode = 2;
    return;
  }
  const { jobs, parents } = allJobs(dir);
  const history = Boolean(flags['-x']) && flavour === 'pbspro';
  const lookup = (id) => jobs.find((j) => j.id === id) ?? parents.get(id);
  const selected = [];
  const errors = [];
  let code = 0;
  if (positional.length > 0) {
    for (const id of positional) {
      const job = lookup(id);
      const v = job && view(job, b, flavour);
      if (!job || v.forgotten) {
        errors.push(
          flavour === 'torque' ? `qstat: Unknown Job Id Error ${id}` : `qstat: Unknown Job Id ${id}`,
        );
        code = 153;
      } else if (flavour === 'pbspro' && v.finished && !history) {
        errors.push(`qstat: ${id} Job has finished, use -x or -H to obtain historical job information`);
        code = code || 35;
      } else selected.push(job);
    }
  } else {
    const user = typeof flags['-u'] === 'string' ? flags['-u'] : undefined;
    const visible = [
      ...jobs.filter((j) => !j.parentId || flavour === 'torque'),
      ...(flavour === 'pbspro' ? parents.values() : []),
    ];
    for (const j of visible) {
      const v = view(j, b, flavour);
      if (v.forgotten) continue;
      if (user !== undefined && j.owner !== user) continue;
      if (flavour === 'pbspro' && v.finished && !history) continue;
      selected.push(j);
    }
  }
  const fullJson = flavour === 'pbspro' && flags['-f'] && flags['-F'] === 'json';
  if (fullJson) {
    const doc = { timestamp: Math.floor(Date.now() / 1000), pbs_version: '19.1.3', pbs_server: serverOf(b) };
    if (selected.length > 0) {
      doc.Jobs = {};
      for (const j of selected) doc.Jobs[j.id] = proJobObject(j, view(j, b, flavour), b, j.members ?? []);
    }
    process.stdout.write(`${proJson(doc)}\n`);
  } else if (flavour === 'torque' && flags['-x']) {
    if (selected.length > 0) {
      process.stdout.write(
        `<Data>${selected.map((j) => torqueXmlJob(j, view(j, b, flavour), serverOf(b))).join('')}</Data>\n`,
      );
    }
  } else if (selected.length > 0) {
    process.stdout.write(
      TABLE_HEAD[flavour] + selected.map((j) => tableRow(flavour, j, view(j, b, flavour))).join('\n') + '\n',
    );
  }
  if (errors.length) process.stderr.write(`${errors.join('\n')}\n`);
  process.exitCode = code;
}

export async function qdel(argv) {
  const dir = stateDir();
  logCall(dir, 'qdel', argv);
  const inj = takeInjection(dir, 'qdel');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const flavour = flavourOf(b);
  const { positional } = parseArgs(argv, new Set(['-W']));
  const { jobs, parents } = allJobs(dir);
  let code = 0;
  for (const id of positional) {
    const parent = parents.get(id);
    const targets = parent ? parent.members : jobs.filter((j) => j.id === id);
    const known = targets.filter((j) => !view(j, b, flavour).forgotten);
    if (known.length === 0) {
      process.stderr.write(
        flavour === 'torque' ? `qdel: Unknown Job Id Error ${id}\n` : `qdel: Unknown Job Id ${id}\n`,
      );
      code = 153;
      continue;
    }
    const live = known.filter((j) => ['queued', 'held', 'running'].includes(j.state));
    if (live.length === 0) {
      if (flavour === 'torque') {
        process.stderr.write(
          `qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE ${id}\n`,
        );
        code = code || 168;
      } else {
        process.stderr.write(`qdel: Job has finished ${id}\n`);
        code = code || 35;
      }
      continue;
    }
    for (const j of live) removeJob(dir, j.key, { reason: 'qdel' });
  }
  process.exitCode = code;
}
