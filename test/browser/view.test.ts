/**
 * The operator's view in a real headless Chromium against a real influxd, on the sample campaign with a
 * failure, a block and a lock (test/helpers/sample.ts): blocked in every view, dependency order, the failures
 * view, the keyboard grid, cell hovers, one time zone per page, 404 pages, control characters escaped, a
 * confirmed action with the token in a password field, a fresh page loaded once; axe-core on every page.
 * With RUNCTRL_DOCS_SCREENSHOTS=1 (`npm run docs:screenshots`) its screenshots are the docs' (docs/*.png).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendPool } from '../../src/cli/backend-pool.js';
import { jobPoint, runStatePoint } from '../../src/store/schema.js';
import { parseTokens } from '../../src/web/actions.js';
import { serve, type Dashboard } from '../../src/web/server.js';
import { storeSource } from '../../src/web/source.js';
import { ROOT, testCtx } from '../helpers/ctx.js';
import { freshDb } from '../helpers/influx.js';
import { CAMPAIGN, FAILED_RUN, LOCK_FROM, sampleJob, writeSample } from '../helpers/sample.js';
import { ARTIFACTS, launch } from './browser.js';

const client = freshDb('view');
const ctx = testCtx(client);
const jobRoot = mkdtempSync(path.join(os.tmpdir(), 'runctrl-view-'));
const SHOTS = process.env.RUNCTRL_DOCS_SCREENSHOTS ? path.join(ROOT, 'docs') : ARTIFACTS;
const ORDER = ['ecal-reco', 'pi0-mon', 'timing-val', 'ic-combi'];
const HOSTILE = 'red\u001b[31mX\u202eevil\u0007';
let d: Dashboard;
let browser: Browser;

beforeAll(async () => {
  await writeSample(ctx, jobRoot);
  const pool = backendPool({ stateDir: jobRoot } as Parameters<typeof backendPool>[0], {});
  d = await serve({
    source: storeSource(ctx.store, { pollMs: 200 }),
    port: 0,
    jobRoot,
    actions: { ctx, backend: pool.get, tokens: parseTokens('ana:view-test-token-0123') },
  });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await d?.close();
});

async function page(o: { height?: number; timezoneId?: string } = {}): Promise<Page> {
  const c = await browser.newContext({
    viewport: { width: 1280, height: o.height ?? 800 },
    ...(o.timezoneId ? { timezoneId: o.timezoneId } : {}),
  });
  const p = await c.newPage();
  p.on('pageerror', (err) => {
    throw err;
  });
  return p;
}

/** No serious or critical axe-core violation on the page as it is. */
async function expectAccessible(p: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page: p }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map(
      (v) =>
        `${v.id}: ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(' | ')}`,
    ),
    what,
  ).toEqual([]);
}

async function shot(p: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

const getJson = async <T>(u: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(d.url + u);
  return { status: r.status, body: (await r.json()) as T };
};

describe('blocked and dependency order (API)', () => {
  it('counts blocked apart from waiting, in dependency order, in status and the overview', async () => {
    const s = await getJson<{ workflows: string[]; totals: Record<string, Record<string, number>> }>(
      `api/status?campaign=${CAMPAIGN}`,
    );
    expect(s.body.workflows).toEqual(ORDER);
    expect(s.body.totals['pi0-mon']).toMatchObject({ blocked: 1, processing: 1, new: 0 });
    // the failed run's own, and the locked runs
    expect(s.body.totals['timing-val']).toMatchObject({ blocked: 1 + (386160 - LOCK_FROM + 1), new: 0 });
    // Run2024C cannot complete (its run 386005 is blocked); Run2024D waits for a pi0-mon in flight
    expect(s.body.totals['ic-combi']).toMatchObject({ blocked: 12, new: 60 });
    const ov =
      await getJson<{ perWorkflow: Record<string, unknown>; failedNow: number; failed24h: number }[]>(
        'api/campaigns',
      );
    expect(Object.keys(ov.body[0]?.perWorkflow ?? {})).toEqual(ORDER);
    expect(ov.body[0]).toMatchObject({ failedNow: 1, failed24h: 2 });
    const why = await getJson<{ answers: { workflow: string; text: string }[] }>(
      `api/why?campaign=${CAMPAIGN}&run=${FAILED_RUN}`,
    );
    expect(why.body.answers.map((a) => a.workflow)).toEqual(ORDER);
    expect(why.body.answers[3]?.text).toBe(
      'blocked: pi0-mon is blocked: ecal-reco failed for good (reprocess ecal-reco to go on)',
    );
  });

  it('answers 404 for an unknown campaign or run', async () => {
    expect((await getJson(`api/grid?campaign=nope`)).status).toBe(404);
    const r = await getJson<{ error: string }>(`api/run?campaign=${CAMPAIGN}&run=999`);
    expect(r).toEqual({ status: 404, body: { error: `run 999 is not in campaign '${CAMPAIGN}'` } });
  });
});

describe('the grid in Chromium', () => {
  it('shows blocked with its own letter, counts per column, hovers, legend links; axe-clean', async () => {
    const p = await page();
    await p.goto(`${d.url}campaign/${CAMPAIGN}`);
    const cell = p.locator(`#grid .grid-row[data-run="${FAILED_RUN}"] a.cell[data-wf="pi0-mon"]`);
    await cell.waitFor();
    expect(
      await p.locator('.grid-head .cell-h').evaluateAll((es) => es.map((e) => e.getAttribute('data-wf'))),
    ).toEqual(ORDER);
    expect(await cell.getAttribute('class')).toContain('st-blocked');
    expect(await cell.textContent()).toBe('B');
    expect(await p.locator('.cell-h[data-wf="ic-combi"] .cell-h-counts').textContent()).toBe('0/72 12B');
    await cell.hover();
    const tip = p.locator('#cell-tip');
    await p.waitForFunction(() => !document.getElementById('cell-tip')?.hidden);
    const t = (await tip.textContent()) ?? '';
    expect(t).toContain(`${FAILED_RUN} · pi0-mon: blocked`);
    expect(t).toMatch(/attempt 0 · tries 0last change \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(t).toContain('ecal-reco failed for good');
    await expectAccessible(p, 'grid');
    await shot(p, 'dashboard-grid');
    await p.click('#legend a[data-status="blocked"]');
    await p.waitForFunction(() => new URL(location.href).searchParams.get('status') === 'blocked');
    await p.waitForFunction(() => document.getElementById('grid-info')?.textContent?.startsWith('23 run(s)'));
    await p.close();
  });

  it('moves with the arrow keys, the rendered rows follow the focus, Enter opens the run', async () => {
    const p = await page({ height: 500 });
    await p.goto(`${d.url}campaign/${CAMPAIGN}`);
    const first = p.locator('#grid .grid-row[data-run="386001"] a.cell[data-wf="ecal-reco"]');
    await first.waitFor();
    expect(await p.locator('#grid a.cell[tabindex="0"]').count()).toBe(1);
    await first.focus();
    for (let i = 0; i < 65; i++) await p.keyboard.press('ArrowDown');
    await p.keyboard.press('ArrowRight');
    const focused = await p.evaluate(() => {
      const a = document.activeElement;
      return {
        run: a?.parentElement?.getAttribute('data-run'),
        wf: a?.getAttribute('data-wf'),
        outline: a ? getComputedStyle(a).outlineStyle : '',
      };
    });
    // row 65 is the 54th run of Run2024D, far below the first rendered window
    expect(focused).toEqual({ run: '386154', wf: 'pi0-mon', outline: 'solid' });
    expect(await p.locator('#grid .grid-row[data-run="386001"]').count()).toBe(0);
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => location.pathname.startsWith('/run/'));
    expect(new URL(p.url()).pathname + new URL(p.url()).hash).toBe(`/run/${CAMPAIGN}/386154#pi0-mon`);
    await p.close();
  });
});

describe('pages', () => {
  it('overview: bars with blocked that open the filtered grid, the counts worded apart; axe-clean', async () => {
    const p = await page();
    await p.goto(d.url);
    const card = p.locator(`section[data-campaign="${CAMPAIGN}"]`);
    await card.waitFor();
    expect(await card.locator('p.counts').textContent()).toBe(
      '72 runs · 1 pairs failed now · 2 job failures in 24 h · locks: 1',
    );
    const seg = card.locator('.bar a.st-blocked').first();
    expect(await seg.getAttribute('href')).toBe(`/campaign/${CAMPAIGN}?status=blocked&workflow=pi0-mon`);
    await expectAccessible(p, 'overview');
    await shot(p, 'dashboard-overview');
    await p.close();
  });

  it('failures view: one group by cause, superseded attempt folded, runs and grid links; axe-clean', async () => {
    const p = await page();
    await p.goto(`${d.url}failures/${CAMPAIGN}`);
    const g = p.locator('#failures .failure-group').first();
    await g.waitFor();
    expect(await p.locator('#failures .failure-group').count()).toBe(1);
    expect(await g.locator('h2').textContent()).toBe(
      'exit 65 · ERROR: cannot open /eos/cms/run_N/raw_N.root',
    );
    expect(await g.locator('.counts').textContent()).toMatch(
      /^1 unit\(s\) failing · 2 failed job\(s\) · first/,
    );
    expect(await g.locator('details summary').textContent()).toBe('1 superseded');
    expect(await g.locator(`.runs a[href="/run/${CAMPAIGN}/${FAILED_RUN}"]`).count()).toBe(1);
    expect(await g.locator('a', { hasText: 'grid of these' }).getAttribute('href')).toBe(
      `/campaign/${CAMPAIGN}?status=failed&workflow=ecal-reco&min=${FAILED_RUN}&max=${FAILED_RUN}`,
    );
    expect(await p.locator('#failures-summary').textContent()).toMatch(
      /^1 pairs failed now · 2 job failures in 24 h/,
    );
    await expectAccessible(p, 'failures');
    await shot(p, 'dashboard-failures');
    await p.close();
  });

  it('run page: lands on #workflow after the log tails above it loaded; one labelled zone, a toggle', async () => {
    const p = await page({ height: 400, timezoneId: 'Asia/Kolkata' });
    await p.goto(`${d.url}run/${CAMPAIGN}/${FAILED_RUN}#pi0-mon`);
    await p.waitForFunction(() =>
      document.querySelector('section[data-workflow="ecal-reco"] pre.stderr')?.textContent?.includes('ERROR'),
    );
    const top = async (): Promise<number> =>
      p.locator('section[data-workflow="pi0-mon"]').evaluate((e) => e.getBoundingClientRect().top);
    await p.waitForFunction(() => {
      const t = document.querySelector('section[data-workflow="pi0-mon"]')?.getBoundingClientRect().top ?? -1;
      return Math.abs(t) < 5;
    });
    expect(Math.abs(await top())).toBeLessThan(5);
    // a change redraws the page (and its tails) while it is open: it stays on the workflow
    await ctx.store.write([
      runStatePoint(CAMPAIGN, {
        run: 386002,
        workflow: 'ic-combi',
        status: 'new',
        attempt: 0,
        tries: 0,
        reason: 'x',
      }),
    ]);
    await p.waitForFunction(() => document.getElementById('live')?.textContent?.startsWith('updated'));
    await p.waitForFunction(() =>
      document.querySelector('section[data-workflow="ecal-reco"] pre.stderr')?.textContent?.includes('ERROR'),
    );
    await p.waitForFunction(() => {
      const t = document.querySelector('section[data-workflow="pi0-mon"]')?.getBoundingClientRect().top ?? -1;
      return Math.abs(t) < 5;
    });
    expect(await p.locator('section[data-workflow="ecal-reco"] table.history th').first().textContent()).toBe(
      'time (UTC)',
    );
    const utc = await p.locator('section[data-workflow="ecal-reco"] table.history td').first().textContent();
    await expectAccessible(p, 'run page');
    await p.click('#tz');
    await p.waitForFunction(() => document.querySelector('table.history th')?.textContent === 'time (local)');
    expect(await p.locator('#tz').textContent()).toMatch(/^times: Asia\/(Kolkata|Calcutta) \(UTC\+05:30\)$/);
    const local = await p
      .locator('section[data-workflow="ecal-reco"] table.history td')
      .first()
      .textContent();
    const diff = Date.parse(`${local?.replace(' ', 'T')}Z`) - Date.parse(`${utc?.replace(' ', 'T')}Z`);
    expect(diff).toBe(5.5 * 3600_000);
    await p.close();
  });

  it('jobs, locks, charts: axe-clean', async () => {
    const p = await page();
    for (const [u, sel] of [
      [`jobs/${CAMPAIGN}?status=failed`, '#jobs table'],
      ['locks', '#locks table'],
      [`charts/${CAMPAIGN}`, '#durations-chart canvas'],
    ] as const) {
      await p.goto(d.url + u);
      await p.locator(sel).first().waitFor();
      await expectAccessible(p, u);
    }
    await p.close();
  });

  it.each([
    ['/campaign/%E0%A4%A', 200, 'This address is not valid (a broken %-escape).'],
    [`/run/${CAMPAIGN}/abc`, 404, `'abc' is not a run number: a run page is /run/CAMPAIGN/RUN.`],
    ['/nonsense/page', 404, 'There is no page /nonsense/page.'],
    [`/run/${CAMPAIGN}/999`, 200, `run 999 is not in campaign '${CAMPAIGN}'`],
    ['/campaign/nope', 200, "There is no campaign 'nope'."],
    ['/charts/nope', 200, "unknown campaign 'nope'"],
  ])('%s: a 404 page that says so (HTTP %i), no uncaught error', async (u, code, text) => {
    const p = await page();
    const r = await p.goto(d.url + u.slice(1));
    expect(r?.status()).toBe(code);
    await p.locator('#not-found').waitFor();
    expect(await p.locator('#not-found').textContent()).toBe(text);
    expect(await p.title()).toBe('runctrl · not found');
    expect(await p.locator('#app .card, #grid').count()).toBe(0);
    if (u.includes('nope'))
      expect(await p.locator('#known-campaigns a').allTextContents()).toEqual([CAMPAIGN]);
    if (u === '/campaign/nope') await expectAccessible(p, '404');
    await p.close();
  });
});

describe('control and bidi characters', () => {
  it('are shown escaped in reasons, outputs and log tails', async () => {
    const run = 386003;
    const j = sampleJob(jobRoot, 'pi0-mon', run, 1, {});
    mkdirSync(path.dirname(j.stdout), { recursive: true });
    writeFileSync(j.stdout, `tail ${HOSTILE}\n`);
    writeFileSync(j.stderr, '');
    await ctx.store.write([
      runStatePoint(CAMPAIGN, {
        run,
        workflow: 'pi0-mon',
        status: 'done',
        attempt: 1,
        tries: 1,
        reason: HOSTILE,
        outputs: [`/eos/${HOSTILE}`],
      }),
    ]);
    await ctx.store.write([jobPoint(j)]);
    const p = await page();
    await p.goto(`${d.url}run/${CAMPAIGN}/${run}`);
    const card = p.locator('section[data-workflow="pi0-mon"]');
    await p.waitForFunction(() =>
      document.querySelector('section[data-workflow="pi0-mon"] pre.stdout')?.textContent?.includes('tail'),
    );
    const escaped = 'red\\x1b[31mX\\u202eevil\\x07';
    expect(await card.locator('pre.stdout').textContent()).toBe(`tail ${escaped}\n`);
    expect(await card.locator('.outputs').textContent()).toBe(`/eos/${escaped}`);
    expect(await card.locator('table.history').textContent()).toContain(escaped);
    const raw = await p.evaluate(() =>
      [...(document.body.textContent ?? '')].some((ch) => {
        const c = ch.charCodeAt(0);
        return (
          (c < 0x20 && ch !== '\n' && ch !== '\t') || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e)
        );
      }),
    );
    expect(raw).toBe(false);
    await p.close();
  });
});

describe('a fresh page and the change check', () => {
  it('a listener attaching after the data was read is told of no change until one happens', async () => {
    let polls = 0;
    const rows = ctx.store.influx.rows.bind(ctx.store.influx);
    const influx = Object.create(ctx.store.influx) as typeof ctx.store.influx;
    influx.rows = ((q: string, params?: Record<string, string>) => {
      if (q.startsWith('SELECT last("status")')) polls++;
      return rows(q, params);
    }) as typeof influx.rows;
    const store = Object.create(ctx.store) as typeof ctx.store;
    Object.defineProperty(store, 'influx', { value: influx });
    const src = storeSource(store, { pollMs: 50 });
    try {
      // as a page: its data first, then its event stream
      await src.campaigns();
      await src.state(CAMPAIGN);
      let changes = 0;
      const off = src.changed(() => changes++);
      const seen = polls;
      await expect.poll(() => polls, { timeout: 20_000 }).toBeGreaterThanOrEqual(seen + 4);
      expect(changes).toBe(0);
      await ctx.store.write([
        runStatePoint(CAMPAIGN, { run: 386001, workflow: 'ic-combi', status: 'new', attempt: 0, tries: 0 }),
      ]);
      await expect.poll(() => changes, { timeout: 20_000 }).toBe(1);
      off();
    } finally {
      src.close();
    }
  });
});

describe('actions', () => {
  it('reset confirms first, listing the pairs, with the token in a password field kept for the tab', async () => {
    const p = await page();
    await p.goto(`${d.url}run/${CAMPAIGN}/386002`);
    await p.click('section[data-workflow="ic-combi"] button[data-action="reset"]');
    const dlg = p.locator('dialog#confirm');
    await dlg.waitFor();
    expect(await dlg.locator('h2').textContent()).toBe(`reset 1 pair(s) of ${CAMPAIGN}?`);
    expect(await dlg.locator('li').allTextContents()).toEqual(['ic-combi: run 386002']);
    expect(await dlg.locator('input[name="token"]').getAttribute('type')).toBe('password');
    await expectAccessible(p, 'confirm dialog');
    await dlg.locator('button[data-confirm="cancel"]').click();
    await dlg.waitFor({ state: 'detached' });
    await p.click('section[data-workflow="ic-combi"] button[data-action="reset"]');
    await p.fill('dialog#confirm input[name="token"]', 'view-test-token-0123');
    await p.click('dialog#confirm button[data-confirm="ok"]');
    await p.waitForFunction(() => document.getElementById('notice')?.textContent === 'reset: done');
    expect(
      await p.evaluate(() => [
        sessionStorage.getItem('runctrl-token'),
        localStorage.getItem('runctrl-token'),
      ]),
    ).toEqual(['view-test-token-0123', null]);
    // the second action of the tab asks again, without the token
    await p.click('section[data-workflow="ic-combi"] button[data-action="reset"]');
    expect(await p.locator('dialog#confirm input[name="token"]').count()).toBe(0);
    await p.click('dialog#confirm button[data-confirm="cancel"]');
    await p.close();
  });
});
