/**
 * The job wrapper's end report: the line and exit code posted with curl, the credentials taken from the job's
 * environment (never from the script, which holds none), hostile characters in them intact.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobScript } from '../../src/backends/wrapper.js';
import { jobEndLinePrefix } from '../../src/store/jobend.js';

const run = promisify(execFile);
const got: { auth: string; body: string; url: string }[] = [];
let server: http.Server;
let base = '';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      got.push({ auth: req.headers.authorization ?? '', body, url: req.url ?? '' });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(() => server.close());

async function runJob(command: string, secrets: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-wrapper-'));
  const script = path.join(dir, 'job.sh');
  const line = jobEndLinePrefix('c1', 'w1', 'rc.c1.w1.r1.a1');
  writeFileSync(
    script,
    jobScript({
      name: 'rc.c1.w1.r1.a1',
      command,
      workDir: dir,
      stdout: path.join(dir, 'out'),
      stderr: path.join(dir, 'err'),
      exitCodeFile: path.join(dir, 'ec'),
      env: { RUNCTRL_REPORT_URL: `${base}/write?db=d`, RUNCTRL_REPORT_LINE: line },
      resources: {},
    }),
  );
  await run('/bin/sh', [script], { env: { PATH: process.env.PATH, ...secrets } }).catch(() => undefined);
  return readFileSync(script, 'utf8');
}

describe('job-end report of the wrapper', () => {
  it('posts the line with the exit code, authenticated with a password full of quotes', async () => {
    const pw = `p"w'\\$HOME\`x\``;
    const script = await runJob('exit 3', { RUNCTRL_INFLUXDB_USER: 'op', RUNCTRL_INFLUXDB_PASSWORD: pw });
    const last = got.at(-1);
    expect(last?.body).toBe('jobend,campaign=c1,workflow=w1 job="rc.c1.w1.r1.a1",exit_code=3i');
    expect(Buffer.from((last?.auth ?? '').replace(/^Basic /, ''), 'base64').toString()).toBe(`op:${pw}`);
    expect(script).not.toContain(pw);
  });

  it('uses a token when one is given', async () => {
    await runJob('true', { RUNCTRL_INFLUXDB_TOKEN: 'tok"en' });
    expect(got.at(-1)).toMatchObject({ auth: 'Token tok"en', body: expect.stringMatching(/exit_code=0i$/) });
  });

  it('sends nothing without a report URL, and a failing report does not change the exit code', async () => {
    const n = got.length;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-wrapper-'));
    const script = path.join(dir, 'job.sh');
    const spec = {
      name: 'n',
      command: 'exit 4',
      workDir: dir,
      stdout: path.join(dir, 'o'),
      stderr: path.join(dir, 'e'),
      exitCodeFile: path.join(dir, 'ec'),
      resources: {},
    };
    writeFileSync(script, jobScript({ ...spec, env: {} }));
    const plain = await run('/bin/sh', [script]).catch((e: { code: number }) => e.code);
    writeFileSync(
      script,
      jobScript({
        ...spec,
        env: { RUNCTRL_REPORT_URL: 'http://127.0.0.1:1/write', RUNCTRL_REPORT_LINE: 'x=' },
      }),
    );
    const refused = await run('/bin/sh', [script]).catch((e: { code: number }) => e.code);
    expect([plain, refused]).toEqual([4, 4]);
    expect(got.length).toBe(n);
    expect(readFileSync(path.join(dir, 'ec'), 'utf8').trim()).toBe('4');
  });
});
