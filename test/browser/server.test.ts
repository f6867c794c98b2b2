/**
 * The dashboard server over a daemon's in-memory state (memorySource): the same API, change events from the
 * provider, no InfluxDB at all; and log tails refused for crafted paths.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Campaign } from '../../src/domain/campaign.js';
import type { JobRecord, LockRecord } from '../../src/domain/jobs.js';
import { stateKey, type RegisteredRun, type RunState } from '../../src/domain/state.js';
import { serveLive } from '../../src/web/live.js';
import { tail } from '../../src/web/logs.js';
import { serve, type Dashboard } from '../../src/web/server.js';
import { memorySource, type CampaignState, type MemoryProvider } from '../../src/web/source.js';
import { makeJob, makeRun } from '../helpers/fixtures.js';
import { launch, simpleWorkflow } from './browser.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'runctrl-dash-'));
const jobRoot = path.join(root, 'jobs');
const work = path.join(jobRoot, 'c', 'A', 'r1', 'a1');
mkdirSync(work, { recursive: true });
writeFileSync(path.join(work, 'stdout'), `${'line\n'.repeat(100_000)}last line\n`);
writeFileSync(path.join(root, 'secret'), 'top secret\n');
symlinkSync(path.join(root, 'secret'), path.join(work, 'stderr'));

const campaign: Campaign = {
  name: 'c',
  description: 'live',
  createdAt: 0,
  rtypes: [{ name: 'all', filter: {}, workflows: ['A'], suspended: [] }],
  workflows: [simpleWorkflow('A')],
};
const state = (run: number, status: RunState['status'], reason = ''): RunState => ({
  run,
  workflow: 'A',
  status,
  attempt: 1,
  tries: 1,
  outputs: [],
  reason,
  time: Date.now(),
});
const job = (o: Partial<JobRecord>): JobRecord => makeJob(work, o);

const BIG = `<script>alert(1)</script>${'y'.repeat(1024 * 1024)}`;
const states = new Map<string, RunState>([
  [stateKey(1, 'A'), state(1, 'failed', BIG)],
  [stateKey(2, 'A'), state(2, 'new')],
]);
const registered = new Map<number, RegisteredRun>([1, 2].map((r) => [r, { ...makeRun(r), rtypes: ['all'] }]));
const jobs = new Map<string, JobRecord>([['rc.c.A.r1.a1', job({})]]);
const listeners = new Set<() => void>();
let reads = 0;
const provider: MemoryProvider = {
  campaigns: () => [campaign],
  state: (c): CampaignState | undefined => (reads++, c === 'c' ? { states, registered, jobs } : undefined),
  locks: (): LockRecord[] => [],
  changed: (l) => (listeners.add(l), () => void listeners.delete(l)),
};

let d: Dashboard;
beforeAll(async () => {
  d = await serve({ source: memorySource(provider), port: 0, jobRoot });
});
afterAll(async () => {
  await d?.close();
});

const get = async <T>(u: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(d.url + u);
  return { status: r.status, body: (await r.json()) as T };
};

describe('memory source', () => {
  it('serves the grid, the run page and why from the provider', async () => {
    const g = await get<{ runs: number[]; cells: string; workflows: string[] }>('api/grid?campaign=c');
    expect(g.body).toMatchObject({ runs: [1, 2], workflows: ['A'], cells: '30' });
    const w = await get<{ answers: { kind: string; text: string }[] }>('api/why?campaign=c&run=2');
    expect(w.body.answers[0]).toMatchObject({ kind: 'ready' });
    const r = await get<{ workflows: { why: { kind: string } }[] }>('api/run?campaign=c&run=1');
    expect(r.body.workflows[0]?.why.kind).toBe('retries-exhausted');
    expect(reads).toBeGreaterThan(0);
    expect((await get('api/grid?campaign=other')).status).toBe(404);
  });

  it('renders a 1 MB hostile reason as text in Chromium', async () => {
    const browser = await launch();
    try {
      const p = await browser.newPage();
      await p.goto(`${d.url}run/c/1`);
      const why = p.locator('section[data-workflow="A"] .why');
      await why.waitFor();
      expect(await why.textContent()).toContain('<script>alert(1)</script>');
      expect(await p.locator('#run script').count()).toBe(0);
    } finally {
      await browser.close();
    }
  });

  it('sends a change event when the provider says its state changed', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${d.url}api/events`, (res) => {
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (c: string) => {
          buf += c;
          if (buf.includes('event: change')) {
            req.destroy();
            resolve(buf);
          }
        });
        setTimeout(() => listeners.forEach((l) => l()), 50);
      });
      req.on('error', reject);
    });
    expect(got).toMatch(/event: change\ndata: 1/);
  });
});

describe('log tails', () => {
  it('reads the capped tail of a recorded path inside the job work directory', async () => {
    const t = await tail(job({}), 'stdout', jobRoot, 1024);
    expect(t.refused).toBeUndefined();
    expect(t.truncated).toBe(true);
    expect(t.text.length).toBe(1024);
    expect(t.text.endsWith('last line\n')).toBe(true);
  });

  it.each([
    ['a symlink out', job({})],
    ['../ in the path', job({ stderr: `${work}/../../../../../secret` })],
    ['a relative path', job({ stderr: '../../etc/passwd' })],
    ['an absolute path elsewhere', job({ stderr: '/etc/passwd' })],
    [
      'a work dir outside the job root',
      job({ stderr: path.join(root, 'secret'), exitCodeFile: path.join(root, 'exit_code') }),
    ],
  ])('refuses %s', async (_what, j) => {
    const t = await tail(j, 'stderr', jobRoot);
    expect(t.refused).toBeDefined();
    expect(t.text).toBe('');
  });

  it('refuses through the API too', async () => {
    const r = await get<{ refused?: string; text: string }>(
      `api/log?campaign=c&job=rc.c.A.r1.a1&stream=stderr`,
    );
    expect(r.body.refused).toBeDefined();
    expect(JSON.stringify(r.body)).not.toContain('top secret');
  });
});

describe('serveLive (automation --daemon --serve)', () => {
  it('serves what the daemon published, and refreshes on publish', async () => {
    const entries = new Map<string, CampaignState>();
    const live = await serveLive({ entries, port: 0, jobRoot });
    try {
      expect(await (await fetch(`${live.url}api/campaigns`)).json()).toEqual([]);
      entries.set('c', { states, registered, jobs });
      live.publish([campaign], []);
      const cs = (await (await fetch(`${live.url}api/campaigns`)).json()) as {
        campaign: string;
        runs: number;
      }[];
      expect(cs.map((c) => [c.campaign, c.runs])).toEqual([['c', 2]]);
    } finally {
      await live.close();
    }
  });
});
