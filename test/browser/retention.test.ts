/** The run page in a real headless Chromium says when retention pruned older history (the `prune` marker). */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writePruneMarker } from '../../src/store/retention.js';
import { Store } from '../../src/store/store.js';
import { freshDb } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, writeCampaign } from '../helpers/loop.js';
import { launch, screenshot, startServe, stop } from './browser.js';

const client = freshDb('dashprune');
const e = loopEnv(client.db);
const CUTOFF = Date.UTC(2026, 8, 4, 12, 0, 0);
let browser: Browser;
let serve: { url: string; child: ChildProcess };

beforeAll(async () => {
  writeCampaign(
    e,
    {
      campaign: 'pruned',
      rtypes: { all: { filter: { global: true }, workflows: ['reco'] } },
      workflows: { reco: { command: loggingCommand('reco'), backend: 'local' } },
    },
    'c.json',
  );
  await ok(e, ['apply', path.join(e.dir, 'c.json')]);
  await ok(e, ['inject', '--campaign', 'pruned', '--runs', '386001']);
  await writePruneMarker(new Store(client), 'pruned', { cutoff: CUTOFF, keep: 7 });
  browser = await launch();
  serve = await startServe(e.env, e.dir);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (serve) await stop(serve.child);
});

describe('the run page after retention', () => {
  it('says from when history was pruned and what each pair keeps', async () => {
    const p = await (await browser.newContext({ timezoneId: 'UTC' })).newPage();
    await p.goto(`${serve.url}run/pruned/386001`);
    const note = p.locator('#run .pruned');
    await note.waitFor();
    const text = (await note.textContent()) ?? '';
    expect(text).toMatch(
      /^history before .*2026.* was pruned \(each pair keeps its last 7 status points and the jobs of its last attempt\)$/,
    );
    await screenshot(p, 'run-page-pruned');
  });
});
