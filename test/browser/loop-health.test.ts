/**
 * Loop health on the dashboard, in a real Chromium: a campaign whose loop stopped passing is marked STALE (in
 * words and red) with its holder and the time since its last pass, on the overview and on the campaign page;
 * a hostile host name shows as text.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { Store } from '../../src/store/store.js';
import { foreignLoop } from '../helpers/failover.js';
import { freshDb } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, writeCampaign, type LoopEnv } from '../helpers/loop.js';
import { launch, screenshot, startServe, stop } from './browser.js';

const HOST = `<img src=x onerror="window.__pwned=1">`;
const client = freshDb('loophealth');
const e: LoopEnv = loopEnv(client.db);
let browser: Browser;
let serve: { url: string; child: ChildProcess; stderr: () => string };

beforeAll(async () => {
  const file = writeCampaign(e, {
    campaign: 'lh',
    rtypes: { all: { filter: { global: true }, workflows: ['A'] } },
    workflows: { A: { command: loggingCommand('a') } },
  });
  await ok(e, ['apply', file]);
  await ok(e, ['inject', '--campaign', 'lh', '--era', 'Run2024C']);
  await foreignLoop(new Store(client), {
    loop: `${HOST}:77:abc`,
    campaign: 'lh',
    agoMs: 300_000,
    intervalMs: 60_000,
    oldestAgoMs: 1_800_000,
    leaseMs: 600_000,
  });
  browser = await launch();
  serve = await startServe({ ...e.env }, e.dir);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (serve) await stop(serve.child);
});

describe('loop health on the dashboard', () => {
  it('marks a campaign whose loop stopped passing STALE, with its holder and times', async () => {
    const p = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await p.goto(serve.url);
    const card = p.locator('section[data-campaign="lh"] p.loop');
    await card.waitFor();
    expect(await card.getAttribute('class')).toContain('stale');
    const text = (await card.textContent()) ?? '';
    expect(text).toMatch(/^STALE loop <img src=x onerror="window.__pwned=1">:77 · last pass [56]m ago/);
    expect(text).toMatch(/oldest job in flight 30m — no pass for [56]m \(3 intervals: 3m\)/);
    expect(await card.evaluate((el) => getComputedStyle(el).color)).toBe('rgb(183, 28, 28)');
    await screenshot(p, 'loop-stale-overview');
    await p.click('section[data-campaign="lh"] h2 a');
    const line = p.locator('#loop');
    await line.waitFor();
    expect(await line.textContent()).toMatch(/^STALE loop .*:77 · last pass [56]m ago/);
    expect(await p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await p.close();
  });
});
