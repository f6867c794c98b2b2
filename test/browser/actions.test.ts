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
    actions: { ctx, backend: pool.get, tokens: parseTokens('ana:s3cret-token') },
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
      (await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] }, 's3cret-tokeX')).status,
    ).toBe(403);
    const states = await ctx.store.runStates('c');
    expect([...states.values()][0]?.status).toBe('failed');
  });

  it('reprocesses through the CLI use case with the token, and logs who did what', async () => {
    const r = await post('reprocess', { campaign: 'c', workflow: 'A', runs: [1] }, 's3cret-token');
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
      await p.fill('dialog#confirm input[name="token"]', 's3cret-token');
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
      await p.fill('dialog#confirm input[name="token"]', 's3cret-token');
      await p.click('dialog#confirm button[data-confirm="ok"]');
      await p.waitForFunction(() => document.getElementById('notice')?.textContent === 'reprocess: done');
      const s2 = [...(await ctx.store.runStates('c')).values()].find((s) => s.run === 2);
      expect(s2?.status).toBe('reprocess');
    } finally {
      await browser.close();
    }
  });

  it('answers bad bodies with 400', async () => {
    expect((await post('lock', { campaign: '<x>', workflow: 'A' }, 's3cret-token')).status).toBe(400);
    expect((await post('explode', { campaign: 'c', workflow: 'A' }, 's3cret-token')).status).toBe(400);
  });

  it('matches tokens by name', () => {
    const t = parseTokens('ana:one,bob:two');
    expect(tokenName(t, 'two')).toBe('bob');
    expect(tokenName(t, 'three')).toBeUndefined();
    expect(tokenName(parseTokens('plain'), 'plain')).toBe('operator');
  });
});
