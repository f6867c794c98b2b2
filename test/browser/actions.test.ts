/** Operator actions of the dashboard against a real influxd: off by default, a token in constant time, logged. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendPool } from '../../src/cli/backend-pool.js';
import { createCampaign } from '../../src/core/campaigns.js';
import { runStatePoint, workflowPoint, rtypePoint } from '../../src/store/schema.js';
import { parseTokens, tokenName } from '../../src/web/actions.js';
import { serve, type Dashboard } from '../../src/web/server.js';
import { storeSource } from '../../src/web/source.js';
import { testCtx } from '../helpers/ctx.js';
import { freshDb } from '../helpers/influx.js';
import os from 'node:os';
import { launch, screenshot, simpleWorkflow } from './browser.js';

const client = freshDb('dact');
const ctx = testCtx(client);
const lines: string[] = [];
let d: Dashboard;
const spec = simpleWorkflow('A');
const TOKEN = 's3cret-token-of-ana';

beforeAll(async () => {
  await createCampaign(ctx, { campaign: 'c' });
  await ctx.store.write([
    rtypePoint('c', 'all', { global: true }, ['A'], []),
    workflowPoint('c', spec),
    runStatePoint('c', { run: 1, workflow: 'A', status: 'failed', attempt: 1, tries: 1, reason: 'x' }),
  ]);
  const pool = backendPool({ stateDir: os.tmpdir() } as Parameters<typeof backendPool>[0], {});
  d = await serve({
    source: storeSource(ctx.store, { pollMs: 200 }),
    port: 0,
    jobRoot: os.tmpdir(),
    actions: { ctx, backend: pool.get, tokens: parseTokens(`ana:${TOKEN}`) },
    log: (l) => lines.push(l),
  });
});
afterAll(async () => {
  await d?.close();
});

const post = (action: string, body: object, token?: string) =>
  fetch(`${d.url}api/actions/${action}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { 'X-Runctrl-Token': token } : {}) },
    body: JSON.stringify(body),
  });

describe('dashboard actions', () => {
  it('refuses a POST without the token or with a wrong one', async () => {
    expect((await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] })).status).toBe(403);
    expect(
      (await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] }, 's3cret-token-of-anX')).status,
    ).toBe(403);
    const states = await ctx.store.runStates('c');
    expect([...states.values()][0]?.status).toBe('failed');
  });

  it('reprocesses through the CLI use case with the token, and logs who did what', async () => {
    const r = await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] }, TOKEN);
    expect(r.status).toBe(200);
    const states = await ctx.store.runStates('c');
    expect([...states.values()][0]?.status).toBe('reprocess');
    expect(lines.join('\n')).toMatch(/action reprocess by ana: campaign c workflow A runs 1/);
    expect(lines.join('\n')).not.toContain('s3cret');
  });

  it('offers the actions on the run page: reset asks for the token once and sets the run back to new', async () => {
    const browser = await launch();
    try {
      const p = await browser.newPage();
      await p.goto(`${d.url}run/c/1`);
      await p.click('section[data-workflow="A"] button[data-action="reset"]');
      await p.fill('dialog#confirm input[name="token"]', TOKEN);
      await p.click('dialog#confirm button[data-confirm="ok"]');
      await p.waitForFunction(() => document.getElementById('notice')?.textContent === 'reset: done');
      await screenshot(p, 'run-actions');
      expect([...(await ctx.store.runStates('c')).values()][0]?.status).toBe('new');
      expect(lines.join('\n')).toMatch(/action reset by ana/);
    } finally {
      await browser.close();
    }
  });

  it('reprocesses cells selected in the grid with shift-click', async () => {
    await ctx.store.write([
      runStatePoint('c', { run: 2, workflow: 'A', status: 'done', attempt: 1, tries: 1 }),
    ]);
    const browser = await launch();
    try {
      const p = await browser.newPage();
      await p.goto(`${d.url}campaign/c`);
      const cell = p.locator('#grid .grid-row[data-run="2"] a.cell[data-wf="A"]');
      await cell.waitFor();
      await cell.click({ modifiers: ['Shift'] });
      expect(new URL(p.url()).pathname).toBe('/campaign/c');
      await p.locator('#grid a.cell.selected').waitFor();
      await p.click('#selection button[data-action="reprocess"]');
      expect(await p.locator('dialog#confirm li').allTextContents()).toEqual(['A: run 2']);
      await p.fill('dialog#confirm input[name="token"]', TOKEN);
      await p.click('dialog#confirm button[data-confirm="ok"]');
      await p.waitForFunction(() => document.getElementById('notice')?.textContent === 'reprocess: done');
      const s2 = [...(await ctx.store.runStates('c')).values()].find((s) => s.run === 2);
      expect(s2?.status).toBe('reprocess');
    } finally {
      await browser.close();
    }
  });

  it('answers bad bodies with 400, an unknown action with 404', async () => {
    expect((await post('lock', { campaign: '<x>', workflow: 'A' }, TOKEN)).status).toBe(400);
    expect((await post('explode', { campaign: 'c', workflow: 'A' }, TOKEN)).status).toBe(404);
  });

  // issue 14 item 9: the bodies are checked by the CLI's rules (src/domain/operation-args.ts)
  it.each([
    ['lock', { fromRun: 'abc', reason: 'r' }, /"fromRun" must be a run number/],
    ['lock', { fromRun: -5, reason: 'r' }, /"fromRun" must be a run number/],
    ['lock', { fromRun: 1.5, reason: 'r' }, /"fromRun" must be a run number/],
    ['lock', { reason: 'r' }, /"fromRun" must be a run number/],
    ['lock', { fromRun: 5 }, /say why with "reason"/],
    ['lock', { fromRun: 5, reason: '   ' }, /say why with "reason"/],
    ['reprocess', { runs: [1], mode: 'bogus' }, /"mode" must be failed or all/],
    ['reprocess', { runs: ['x'] }, /"runs": "x" is not a run number/],
    ['reprocess', {}, /"runs" must be a non-empty list/],
    ['reset', { runs: [0] }, /"runs": 0 is not a run number/],
  ])('refuses %s with %j: 400, nothing written', async (action, extra, message) => {
    const before = await ctx.store.locks('c');
    const r = await post(action, { campaign: 'c', workflow: 'A', ...extra }, TOKEN);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(message);
    expect(await ctx.store.locks('c')).toEqual(before);
  });

  it('refuses a body that is not JSON or too large (413), with the security headers', async () => {
    const raw = (body: string) =>
      fetch(`${d.url}api/actions/lock`, { method: 'POST', headers: { 'X-Runctrl-Token': TOKEN }, body });
    const bad = await raw('{"campaign":');
    expect(bad.status).toBe(400);
    const big = await raw(JSON.stringify({ campaign: 'c', workflow: 'A', reason: 'x'.repeat(100_000) }));
    expect(big.status).toBe(413);
    for (const r of [bad, big])
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
  });

  it("records the token's name as `by` of a lock and of an unlock, the reason as given", async () => {
    const r = await post(
      'lock',
      { campaign: 'c', workflow: 'A', fromRun: 7, reason: 'new pedestals' },
      TOKEN,
    );
    expect(r.status).toBe(200);
    const [l] = await ctx.store.locks('c');
    expect(l).toMatchObject({ fromRun: 7, reason: 'new pedestals', by: 'ana@dashboard', locked: true });
    expect((await post('unlock', { campaign: 'c', workflow: 'A' }, TOKEN)).status).toBe(200);
    const [u] = await ctx.store.locks('c');
    expect(u).toMatchObject({ locked: false, by: 'ana@dashboard' });
  });

  // issue 14 item 7
  it('answers 403 and 200 with the security headers of the pages', async () => {
    const denied = await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] });
    const done = await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] }, TOKEN);
    expect([denied.status, done.status]).toEqual([403, 200]);
    for (const r of [denied, done]) {
      expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('reprocesses with dependents when the body says so ("withDependents" checked first)', async () => {
    await createCampaign(ctx, { campaign: 'deps' });
    await ctx.store.write([
      rtypePoint('deps', 'all', { global: true }, ['A', 'B'], []),
      workflowPoint('deps', spec),
      workflowPoint('deps', { ...simpleWorkflow('B'), dependsOn: ['A'] }),
      runStatePoint('deps', { run: 5, workflow: 'A', status: 'done', attempt: 1, tries: 1 }),
      runStatePoint('deps', { run: 5, workflow: 'B', status: 'done', attempt: 1, tries: 1 }),
    ]);
    const body = { campaign: 'deps', workflow: 'A', runs: [5], mode: 'all' };
    const bad = await post('reprocess', { ...body, withDependents: 'yes' }, TOKEN);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/"withDependents" must be true or false/);
    const statuses = async () =>
      [...(await ctx.store.runStates('deps')).values()].map((s) => `${s.workflow}:${s.status}`).sort();
    expect(await statuses()).toEqual(['A:done', 'B:done']);
    const r = await post('reprocess', { ...body, withDependents: true }, TOKEN);
    expect(r.status).toBe(200);
    const answer = (await r.json()) as {
      changed: unknown[];
      dependents: { workflow: string; changed: unknown[] }[];
    };
    expect(answer.changed).toHaveLength(1);
    expect(answer.dependents.map((x) => [x.workflow, x.changed.length])).toEqual([['B', 1]]);
    expect(await statuses()).toEqual(['A:reprocess', 'B:reprocess']);
  });

  it('matches tokens by name', () => {
    const t = parseTokens('ana:one-0123456789abcdef,bob:two-0123456789abcdef');
    expect(tokenName(t, 'two-0123456789abcdef')).toBe('bob');
    expect(tokenName(t, 'three-0123456789abcdef')).toBeUndefined();
    expect(tokenName(parseTokens('plain-0123456789abcdef'), 'plain-0123456789abcdef')).toBe('operator');
  });

  // issue 14 item 6
  it.each([
    ['a', /the token has 1 characters, 16 at least/],
    ['alice:', /the token of 'alice' has 0 characters/],
    ['alice:short', /the token of 'alice' has 5 characters/],
    [',', /holds no token/],
    ['a:0123456789abcdef,a:0123456789abcdeg', /the name 'a' is given twice/],
  ])('refuses the serve token %j', (v, message) => {
    expect(() => parseTokens(v)).toThrow(message);
  });
});
