/**
 * The dashboard in a real headless Chromium against a real influxd: overview → grid → filter → a failed
 * cell's run page (reason, log tail); a change in InfluxDB appears without a reload; hostile values never
 * execute; no secret in any page, header or API answer. Screenshots go to test-artifacts/browser/.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { runStatePoint } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { expectCleanError, runCli } from '../helpers/cli.js';
import { freshDb } from '../helpers/influx.js';
import { loggingCommand, loopEnv, ok, untilSettled, writeCampaign, type LoopEnv } from '../helpers/loop.js';
import { launch, screenshot, startServe, stop } from './browser.js';

const XSS = `<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">`;
const BIG = `${XSS} ${'x'.repeat(60_000)}`;

const client = freshDb('dash');
const e: LoopEnv = loopEnv(client.db);
let store: Store;
let browser: Browser;
let serve: { url: string; child: ChildProcess; stderr: () => string };

beforeAll(async () => {
  await client.createDatabase();
  store = new Store(client);
  const file = writeCampaign(e, {
    campaign: 'rereco',
    description: XSS,
    rtypes: { all: { filter: { global: true }, workflows: ['reco', 'mon', 'combi'] } },
    workflows: {
      reco: {
        command: `${loggingCommand('reco', '[ {run} = 386005 ] && { echo boom-on-stderr-386005 >&2; exit 3; }; ')}echo '${XSS}' >> "$RUNCTRL_OUTPUT_FILE"`,
        max_retries: 0,
      },
      mon: { command: loggingCommand('mon'), depends_on: ['reco'] },
      combi: { command: loggingCommand('combi'), depends_on: ['mon'], granularity: 'era' },
    },
  });
  await ok(e, ['apply', file]);
  await ok(e, ['inject', '--campaign', 'rereco', '--era', 'Run2024C']);
  await ok(e, ['inject', '--campaign', 'rereco', '--era', 'Run2024D']);
  await untilSettled(e, 'rereco', {
    settled: (s) =>
      (s.totals.reco?.new ?? 0) + (s.totals.reco?.processing ?? 0) === 0 &&
      (s.totals.mon?.processing ?? 0) === 0,
  });
  await ok(e, [
    'lock',
    '--campaign',
    'rereco',
    '--workflow',
    'combi',
    '--from-run',
    '386100',
    '--reason',
    BIG,
  ]);
  // a hostile failure reason recorded for another run
  await store.write([
    runStatePoint('rereco', {
      run: 386012,
      workflow: 'mon',
      status: 'failed',
      attempt: 1,
      tries: 1,
      reason: BIG,
    }),
  ]);
  browser = await launch();
  serve = await startServe(
    {
      ...e.env,
      RUNCTRL_INFLUXDB_PASSWORD: 'hunter2-secret',
      RUNCTRL_WEBHOOKS: 'https://hooks.example.org/secret-hook',
    },
    e.dir,
  );
}, 240_000);

afterAll(async () => {
  await browser?.close();
  if (serve) await stop(serve.child);
});

async function page(): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  p.on('pageerror', (err) => {
    throw err;
  });
  return p;
}

const pwned = (p: Page): Promise<unknown> =>
  p.evaluate(() => (window as unknown as { __pwned?: number }).__pwned);

describe('dashboard in Chromium', () => {
  it('overview → grid → filter → failed cell → reason and log tail', async () => {
    const p = await page();
    await p.goto(serve.url);
    await p.locator('section[data-campaign="rereco"]').waitFor();
    expect(await p.locator('section[data-campaign="rereco"] .desc').textContent()).toContain('<script>');
    await screenshot(p, 'overview');
    await p.click('section[data-campaign="rereco"] h2 a');
    await p.locator('#grid .grid-row').first().waitFor();
    expect(await p.locator('#grid .grid-row').count()).toBe(20);
    await screenshot(p, 'grid');
    await p.selectOption('#filters select[name=status]', 'failed');
    await p.fill('#filters input[name=era]', 'Run2024C');
    await p.click('#filters button');
    await p.waitForFunction(() => document.querySelectorAll('#grid .grid-row').length === 2);
    expect(new URL(p.url()).searchParams.get('status')).toBe('failed');
    expect(new URL(p.url()).searchParams.get('era')).toBe('Run2024C');
    await p.click('#grid .grid-row[data-run="386005"] a.cell[data-wf="reco"]');
    await p.locator('#run section[data-workflow="reco"] pre.stderr').waitFor();
    const reco = p.locator('#run section[data-workflow="reco"]');
    await p.waitForFunction(() =>
      document.querySelector('#run section[data-workflow="reco"] pre.stderr')?.textContent?.includes('boom'),
    );
    expect(await reco.locator('.why').textContent()).toMatch(/failed for good: attempt 1 failed.*3/);
    expect(await reco.locator('pre.stderr').textContent()).toContain('boom-on-stderr-386005');
    expect(await p.locator('#run section[data-workflow="mon"] .why').textContent()).toContain(
      'blocked: reco failed for good (reprocess reco to go on)',
    );
    expect(await p.locator('#run section[data-workflow="mon"] .badge').textContent()).toBe('blocked');
    await screenshot(p, 'run');
    expect(await pwned(p)).toBeUndefined();
    await p.close();
  });

  it('updates the grid without a reload when a state changes in InfluxDB', async () => {
    const p = await page();
    await p.goto(`${serve.url}campaign/rereco?min=386001&max=386001`);
    const cell = p.locator('#grid .grid-row[data-run="386001"] a.cell[data-wf="combi"]');
    await cell.waitFor();
    await p.evaluate(() => ((window as unknown as { __same: number }).__same = 1));
    const t0 = Date.now();
    await store.write([
      runStatePoint('rereco', {
        run: 386001,
        workflow: 'combi',
        status: 'failed',
        attempt: 1,
        tries: 0,
        reason: 'test',
      }),
    ]);
    await p.waitForFunction(
      () =>
        document
          .querySelector('#grid .grid-row[data-run="386001"] a.cell[data-wf="combi"]')
          ?.classList.contains('st-failed'),
      undefined,
      { timeout: 5000 },
    );
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(await p.evaluate(() => (window as unknown as { __same?: number }).__same)).toBe(1);
    await p.close();
  });

  it('marks a stale result in the grid (a mark, not colour alone) and says on the run page what it was made from', async () => {
    const p = await page();
    // reco of 386002 re-ran (attempt 2): mon's result, made from attempt 1, is stale
    await store.write([
      runStatePoint('rereco', { run: 386002, workflow: 'reco', status: 'done', attempt: 2, tries: 1 }),
    ]);
    await p.goto(`${serve.url}campaign/rereco?min=386002&max=386003`);
    const cell = (run: number) => p.locator(`#grid .grid-row[data-run="${run}"] a.cell[data-wf="mon"]`);
    await p.waitForFunction(() =>
      document
        .querySelector('#grid .grid-row[data-run="386002"] a.cell[data-wf="mon"]')
        ?.classList.contains('stale'),
    );
    expect(await cell(386002).textContent()).toBe('D!');
    expect(await cell(386002).getAttribute('aria-label')).toMatch(/stale: its inputs changed/);
    expect(await cell(386003).textContent()).toBe('D');
    expect(await cell(386003).getAttribute('class')).not.toMatch(/stale/);
    expect(await p.locator('.legend-item[data-status="stale"]').textContent()).toBe('!stale 1');
    await screenshot(p, 'grid-stale');
    await p.goto(`${serve.url}run/rereco/386002`);
    const mon = p.locator('#run section[data-workflow="mon"]');
    await mon.locator('.made-from').waitFor();
    expect(await mon.locator('.made-from').textContent()).toBe('made from reco attempt 1');
    expect(await mon.locator('.why').textContent()).toContain(
      'stale: reco re-ran (attempt 2); this result used attempt 1',
    );
    await p.close();
  });

  it('shows hostile values as text and runs none of them', async () => {
    const p = await page();
    await p.goto(`${serve.url}run/rereco/386012`);
    await p.locator('#run section[data-workflow="mon"] .why').waitFor();
    expect(await p.locator('#run section[data-workflow="mon"] .why').textContent()).toContain(
      '<script>window.__pwned=1</script>',
    );
    expect(await p.locator('#run section[data-workflow="reco"] .outputs').textContent()).toContain(
      '<img src=x',
    );
    expect(await p.locator('#run img').count()).toBe(0);
    await p.goto(`${serve.url}locks`);
    await p.locator('#locks table').waitFor();
    await screenshot(p, 'locks');
    await p.goto(`${serve.url}jobs/rereco?status=failed`);
    await p.locator('#jobs table').waitFor();
    await screenshot(p, 'jobs');
    await p.goto(`${serve.url}charts/rereco`);
    await p.locator('#progress-chart canvas').waitFor();
    await screenshot(p, 'charts');
    expect(await p.locator('script').count()).toBe(1);
    expect(await pwned(p)).toBeUndefined();
    await p.close();
  });

  it('forbids inline script and leaks no secret; bad parameters get 400 with one line of JSON', async () => {
    const r = await fetch(serve.url);
    expect(r.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(r.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);
    const bodies = await Promise.all(
      [
        '',
        'api/campaigns',
        'api/grid?campaign=rereco',
        'api/run?campaign=rereco&run=386005',
        'api/jobs?campaign=rereco',
        'api/locks',
      ].map(async (u) => {
        const x = await fetch(serve.url + u);
        const hs: string[] = [];
        x.headers.forEach((v, k) => hs.push(`${k}: ${v}`));
        return hs.join('\n') + (await x.text());
      }),
    );
    for (const b of bodies) {
      expect(b).not.toContain('hunter2');
      expect(b).not.toContain('secret-hook');
    }
    for (const u of [
      'api/grid?campaign=%3Cx%3E',
      'api/grid?campaign=rereco&min=abc',
      'api/run?campaign=rereco',
      'api/grid?campaign=rereco&status=bad',
    ]) {
      const x = await fetch(serve.url + u);
      expect(x.status, u).toBe(400);
      const text = await x.text();
      expect(text.split('\n')).toHaveLength(1);
      expect(JSON.parse(text)).toHaveProperty('error');
    }
    const post = await fetch(`${serve.url}api/actions/reset`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(403);
  });

  it('runctrl why says in the terminal what /api/why says', async () => {
    const api = (await (await fetch(`${serve.url}api/why?campaign=rereco&run=386005`)).json()) as unknown;
    const cli = JSON.parse(
      (await ok(e, ['why', '--campaign', 'rereco', '--run', '386005', '--json'])).stdout,
    ) as unknown;
    expect(api).toEqual(cli);
    const text = (await ok(e, ['why', '-c', 'rereco', '--run', '386005', '--workflow', 'mon'])).stdout;
    expect(text).toContain('blocked: reco failed for good');
  });

  it('runctrl why refuses an unknown workflow or a bad run in one line', async () => {
    const opts = { env: e.env, cwd: e.dir };
    expectCleanError(
      await runCli(['why', '-c', 'rereco', '--run', '386005', '--workflow', 'nope'], opts),
      1,
      /unknown workflow 'nope' in campaign 'rereco' \(known: combi, mon, reco\)/,
    );
    expectCleanError(
      await runCli(['why', '-c', 'rereco', '--run', '-3'], opts),
      2,
      /--run must be a run number/,
    );
  });

  it('answers the CLI shapes: api/status equals status --json', async () => {
    const api = (await (await fetch(`${serve.url}api/status?campaign=rereco`)).json()) as unknown;
    const cli = JSON.parse((await ok(e, ['status', '--campaign', 'rereco', '--json'])).stdout) as unknown;
    expect(api).toEqual(cli);
  });
});
