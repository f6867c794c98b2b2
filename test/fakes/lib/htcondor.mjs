// Fake HTCondor commands: condor_submit, condor_q, condor_history, condor_rm.
// Output formats follow HTCondor's own code (see test/fixtures/htcondor/README.md): `-terse` ranges, the
// ClassAd JSON writer (`[\n{…}\n,\n{…}\n]\n`, attributes sorted case-insensitively, 2-space indent),
// condor_rm result lines, and the recorded error texts.
import fs from 'node:fs';
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
  sortKeysCaseInsensitive,
  startRunner,
  stateDir,
  takeInjection,
  withLock,
} from './common.mjs';

const SYSTEM = 'htcondor';

// ---------------------------------------------------------------- ClassAd JSON output

function unparseValue(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(String(v));
}

function unparseAd(ad) {
  const keys = sortKeysCaseInsensitive(Object.keys(ad).filter((k) => ad[k] !== undefined));
  if (keys.length === 0) return '{\n}';
  return `{\n${keys.map((k) => `  ${JSON.stringify(k)}: ${unparseValue(ad[k])}`).join(',\n')}\n}`;
}

/** CondorClassAdListWriter for JSON: nothing at all when there are no ads. */
function condorJson(ads) {
  if (ads.length === 0) return '';
  let s = '';
  ads.forEach((ad, i) => {
    s += i === 0 ? '[\n' : ',\n';
    s += `${unparseAd(ad)}\n`;
  });
  return `${s}]\n`;
}

// ---------------------------------------------------------------- constraint subset

function tokenize(s) {
  const toks = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      while (j < s.length && s[j] !== '"') {
        if (s[j] === '\\' && j + 1 < s.length) {
          v += s[j + 1];
          j += 2;
        } else v += s[j++];
      }
      toks.push({ t: 'str', v });
      i = j + 1;
    } else if (/[0-9-]/.test(c) && /^-?\d/.test(s.slice(i))) {
      const m = /^-?\d+(\.\d+)?/.exec(s.slice(i));
      toks.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(s.slice(i));
      toks.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else {
      const m = /^(=\?=|=!=|==|!=|>=|<=|&&|\|\||[()<>!])/.exec(s.slice(i));
      if (!m) throw new Error(`bad constraint near ${s.slice(i)}`);
      toks.push({ t: 'op', v: m[0] });
      i += m[0].length;
    }
  }
  return toks;
}

function compileConstraint(src) {
  const toks = tokenize(src);
  let p = 0;
  const peek = () => toks[p];
  const lookup = (ad, name) => {
    const k = Object.keys(ad).find((x) => x.toLowerCase() === name.toLowerCase());
    return k === undefined ? undefined : ad[k];
  };
  function primary() {
    const t = toks[p++];
    if (!t) throw new Error('unexpected end of constraint');
    if (t.t === 'op' && t.v === '(') {
      const e = orExpr();
      p++; // ')'
      return e;
    }
    if (t.t === 'op' && t.v === '!') {
      const e = primary();
      return (ad) => !e(ad);
    }
    if (t.t === 'str' || t.t === 'num') return () => t.v;
    if (t.t === 'id') {
      const low = t.v.toLowerCase();
      if (low === 'true') return () => true;
      if (low === 'false') return () => false;
      if (low === 'undefined') return () => undefined;
      return (ad) => lookup(ad, t.v);
    }
    throw new Error(`unexpected token ${t.v}`);
  }
  function cmp() {
    const left = primary();
    const t = peek();
    if (t && t.t === 'op' && ['==', '=?=', '!=', '=!=', '>', '<', '>=', '<='].includes(t.v)) {
      p++;
      const right = primary();
      return (ad) => {
        const a = left(ad);
        const b = right(ad);
        const ci = (x) => (typeof x === 'string' ? x.toLowerCase() : x);
        switch (t.v) {
          case '=?=':
            return a !== undefined && a === b;
          case '=!=':
            return !(a !== undefined && a === b);
          case '==':
            return a !== undefined && b !== undefined && ci(a) === ci(b);
          case '!=':
            return a !== undefined && b !== undefined && ci(a) !== ci(b);
          case '>':
            return a > b;
          case '<':
            return a < b;
          case '>=':
            return a >= b;
          default:
            return a <= b;
        }
      };
    }
    return (ad) => Boolean(left(ad));
  }
  function andExpr() {
    let e = cmp();
    while (peek()?.v === '&&') {
      p++;
      const l = e;
      const r = cmp();
      e = (ad) => l(ad) && r(ad);
    }
    return e;
  }
  function orExpr() {
    let e = andExpr();
    while (peek()?.v === '||') {
      p++;
      const l = e;
      const r = andExpr();
      e = (ad) => l(ad) || r(ad);
    }
    return e;
  }
  return orExpr();
}

// ---------------------------------------------------------------- job ads

function statusOf(job) {
  switch (job.state) {
    case 'queued':
      return 1;
    case 'running':
      return 2;
    case 'held':
      return 5;
    case 'removed':
      return 3;
    default:
      return 4;
  }
}

function inQueue(job, b) {
  if (job.override?.inQueue !== undefined) return job.override.inQueue;
  if (['queued', 'running', 'held'].includes(job.state)) return true;
  if (job.state === 'removed') return Date.now() < (job.removed?.at ?? 0) + (b.removingMs ?? 0);
  return false;
}

function adOf(job) {
  const status = statusOf(job);
  const ad = {
    ClusterId: job.cluster,
    ProcId: job.proc,
    JobStatus: status,
    EnteredCurrentStatus: Math.floor(
      (job.state === 'held' ? (job.heldSince ?? job.stateTime) : job.stateTime) / 1000,
    ),
    QDate: Math.floor(job.submitTime / 1000),
    Owner: job.owner,
    GlobalJobId: `${job.schedd}#${job.cluster}.${job.proc}#${Math.floor(job.submitTime / 1000)}`,
    Cmd: job.script,
    Iwd: job.cwd,
    JobUniverse: 5,
    ...job.attrs,
  };
  if (status === 5) {
    ad.HoldReason = job.hold.reason;
    ad.HoldReasonCode = job.hold.code;
    ad.HoldReasonSubCode = job.hold.subCode ?? 0;
  }
  if (status === 3) ad.RemoveReason = job.removed?.reason ?? `via condor_rm (by user ${job.owner})`;
  if (status === 4) {
    if (job.signal) {
      ad.ExitBySignal = true;
      ad.ExitSignal = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2 }[job.signal] ?? 9;
    } else {
      ad.ExitBySignal = false;
      ad.ExitCode = job.exitCode ?? 0;
    }
    ad.CompletionDate = Math.floor((job.endTime ?? Date.now()) / 1000);
  }
  return { ...ad, ...(job.override?.ad ?? {}) };
}

function project(ad, attributes) {
  if (!attributes) return ad;
  const out = {};
  for (const a of attributes) {
    const k = Object.keys(ad).find((x) => x.toLowerCase() === a.toLowerCase());
    if (k !== undefined) out[k] = ad[k];
  }
  return out;
}

function restrictionMatcher(positional) {
  if (positional.length === 0) return () => true;
  const tests = positional.map((r) => {
    let m = /^(\d+)\.(\d+)$/.exec(r);
    if (m) return (ad) => ad.ClusterId === Number(m[1]) && ad.ProcId === Number(m[2]);
    m = /^(\d+)$/.exec(r);
    if (m) return (ad) => ad.ClusterId === Number(m[1]);
    return (ad) => ad.Owner === r;
  });
  return (ad) => tests.some((t) => t(ad));
}

async function query(cmd, argv, history) {
  const dir = stateDir();
  logCall(dir, cmd, argv);
  const inj = takeInjection(dir, cmd);
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { flags, positional } = parseArgs(
    argv,
    new Set(['-attributes', '-af', '-constraint', '-name', '-pool', '-limit', '-format', '-match']),
  );
  if ((!history && b.condorQEmpty) || (history && b.condorHistoryEmpty)) return;
  const attributes = typeof flags['-attributes'] === 'string' ? flags['-attributes'].split(',') : undefined;
  const constraint =
    typeof flags['-constraint'] === 'string' ? compileConstraint(flags['-constraint']) : () => true;
  const restrict = restrictionMatcher(positional);
  let jobs = listJobs(dir, SYSTEM).filter((j) => (history ? !inQueue(j, b) : inQueue(j, b)));
  if (history) jobs = jobs.reverse(); // most recent first
  let ads = jobs.map(adOf).filter((ad) => restrict(ad) && constraint(ad));
  const limit = flags['-limit'] ?? flags['-match'];
  if (history && limit !== undefined) ads = ads.slice(0, Number(limit));
  if (!flags['-json']) {
    // Only -json is used by the backend; keep a minimal -af for humans.
    process.stdout.write(
      ads.map((ad) => `${ad.ClusterId}.${ad.ProcId} ${ad.JobStatus}`).join('\n') + (ads.length ? '\n' : ''),
    );
    return;
  }
  process.stdout.write(condorJson(ads.map((ad) => project(ad, attributes))));
}

export const condorQ = (argv) => query('condor_q', argv, false);
export const condorHistory = (argv) => query('condor_history', argv, true);

// ---------------------------------------------------------------- condor_submit

function parseSubmitFile(text) {
  const vars = {};
  const plus = {};
  let queue;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line.startsWith('#')) continue;
    let m = /^queue\b\s*(.*)$/i.exec(line);
    if (m) {
      const rest = m[1].trim();
      const from = /^(.*?)\s+from\s+(.+)$/i.exec(rest);
      if (from) queue = { vars: from[1].split(/[\s,]+/).filter(Boolean), file: from[2].trim() };
      else queue = { count: rest === '' ? 1 : Number(rest) };
      continue;
    }
    m = /^(\+|MY\.)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m)
      return { error: `\nERROR: on Line ${n + 1} of submit file: \nSubmit:0:Parse error in submit file\n` };
    if (m[1]) plus[m[2]] = m[3];
    else vars[m[2].toLowerCase()] = m[3];
  }
  if (!queue) return { error: '\nERROR: "submit" doesn\'t contain any "queue" commands -- no jobs queued\n' };
  return { vars, plus, queue };
}

function expand(value, macros) {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all, name) => {
    const k = Object.keys(macros).find((x) => x.toLowerCase() === name.toLowerCase());
    return k === undefined ? all : String(macros[k]);
  });
}

function classadValue(v) {
  const s = v.trim();
  if (/^".*"$/.test(s)) return s.slice(1, -1).replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  if (/^-?\d+$/.test(s)) return Number(s);
  if (/^(true|false)$/i.test(s)) return s.toLowerCase() === 'true';
  return s;
}

export async function condorSubmit(argv) {
  const dir = stateDir();
  logCall(dir, 'condor_submit', argv);
  const inj = takeInjection(dir, 'condor_submit');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { flags, positional } = parseArgs(argv, new Set(['-name', '-pool', '-remote', '-batch-name']));
  const file = positional[0];
  const text = file ? fs.readFileSync(file, 'utf8') : '';
  const sub = parseSubmitFile(text);
  if (sub.error) {
    process.stderr.write(sub.error);
    process.exitCode = 1;
    return;
  }
  let items = [{}];
  if (sub.queue.file) {
    const raw = fs.readFileSync(path.resolve(path.dirname(file), sub.queue.file), 'utf8');
    items = raw
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const parts = l.trim().split(/[\s,]+/);
        const it = {};
        sub.queue.vars.forEach((v, i) => {
          it[v] = i === sub.queue.vars.length - 1 ? parts.slice(i).join(' ') : (parts[i] ?? '');
        });
        return it;
      });
  } else {
    items = Array.from({ length: sub.queue.count }, () => ({}));
  }
  const schedd = typeof flags['-name'] === 'string' ? flags['-name'] : 'local';
  // Check every executable before creating the cluster (condor_submit aborts the whole submission).
  for (const it of items) {
    const exe = expand(sub.vars.executable ?? '', { ...it, Cluster: 0, Process: 0 });
    if (!fs.existsSync(exe)) {
      process.stderr.write(`\nERROR: Executable file ${exe} does not exist\n`);
      process.exitCode = 1;
      return;
    }
  }
  const created = withLock(dir, () => {
    const cluster = nextId(dir, 'condor_cluster', b.firstCluster ?? 31);
    const jobs = items.map((it, proc) => {
      const macros = { ...it, Cluster: cluster, ClusterId: cluster, Process: proc, ProcId: proc };
      const attrs = {};
      for (const [k, v] of Object.entries(sub.plus)) attrs[k] = classadValue(expand(v, macros));
      if (sub.vars.request_cpus) attrs.RequestCpus = Number(expand(sub.vars.request_cpus, macros));
      if (sub.vars.request_memory) attrs.RequestMemory = Number(expand(sub.vars.request_memory, macros));
      if (sub.vars.accounting_group) attrs.AcctGroup = expand(sub.vars.accounting_group, macros);
      if (sub.vars.batch_name) attrs.JobBatchName = expand(sub.vars.batch_name, macros);
      const job = newJob(dir, {
        key: `condor-${cluster}.${proc}`,
        system: SYSTEM,
        schedd,
        cluster,
        proc,
        script: expand(sub.vars.executable, macros),
        cwd: sub.vars.initialdir ? expand(sub.vars.initialdir, macros) : path.dirname(file),
        attrs,
      });
      if (b.holdOnSubmit) {
        job.state = 'held';
        job.hold = {
          reason: b.holdOnSubmit.reason,
          code: b.holdOnSubmit.code ?? 1,
          subCode: b.holdOnSubmit.subCode ?? 0,
        };
        job.heldSince = Date.now() - (b.holdOnSubmit.agoMs ?? 0);
      }
      saveJob(dir, job);
      return job;
    });
    return { cluster, jobs };
  });
  for (const j of created.jobs) if (j.state === 'queued') startRunner(dir, j);
  const n = created.jobs.length;
  if (flags['-terse']) {
    process.stdout.write(`${created.cluster}.0 - ${created.cluster}.${n - 1}\n`);
  } else {
    process.stdout.write(
      `Submitting job(s)${'.'.repeat(n)}\n${n} job(s) submitted to cluster ${created.cluster}.\n`,
    );
  }
}

// ---------------------------------------------------------------- condor_rm

export async function condorRm(argv) {
  const dir = stateDir();
  logCall(dir, 'condor_rm', argv);
  const inj = takeInjection(dir, 'condor_rm');
  if (inj) return emitInjection(inj);
  const b = behavior(dir);
  const { positional } = parseArgs(argv, new Set(['-name', '-pool', '-reason', '-constraint']));
  let failed = false;
  const queued = () => listJobs(dir, SYSTEM).filter((j) => inQueue(j, b));
  for (const arg of positional) {
    let m = /^(\d+)\.(\d+)$/.exec(arg);
    if (m) {
      const job = queued().find((j) => j.cluster === Number(m[1]) && j.proc === Number(m[2]));
      if (!job) {
        process.stderr.write(`Job ${arg} not found\n`);
        failed = true;
      } else if (job.state === 'removed') {
        process.stderr.write(`Job ${arg} already marked for removal\n`);
        failed = true;
      } else {
        removeJob(dir, job.key, { reason: `via condor_rm (by user ${job.owner})` });
        process.stdout.write(`Job ${arg} marked for removal\n`);
      }
      continue;
    }
    m = /^(\d+)$/.exec(arg);
    if (m) {
      const jobs = queued().filter((j) => j.cluster === Number(m[1]) && j.state !== 'removed');
      if (jobs.length === 0) {
        process.stderr.write(`Couldn't find/remove all jobs in cluster ${arg}\n`);
        failed = true;
      } else {
        for (const j of jobs) removeJob(dir, j.key, { reason: `via condor_rm (by user ${j.owner})` });
        process.stdout.write(`All jobs in cluster ${arg} have been marked for removal\n`);
      }
    }
  }
  if (failed) process.exitCode = 1;
}
