/** The loop's metrics: /healthz's answer over time, lease losses, per-workflow counters and jobs in flight. */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/automation/metrics.js';
import { emptyPassReport, type CampaignReport, type PassReport } from '../../src/automation/pass.js';
import type { Campaign } from '../../src/domain/campaign.js';

const MIN = 60_000;

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_800_000_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function report(wake = false, campaigns: Partial<CampaignReport>[] = []): PassReport {
  return { ...emptyPassReport(0, false, wake), durationMs: 1500, campaigns: campaigns as CampaignReport[] };
}

const c1 = { name: 'c1', workflows: [{ name: 'A' }, { name: 'B' }] } as unknown as Campaign;

async function value(
  m: Metrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value;
}

describe('Metrics', () => {
  it('health: 200 while the last successful pass ended less than three intervals ago, else 503', () => {
    const c = clock();
    const m = new Metrics({ intervalMs: MIN, now: c.now });
    expect(m.health().code).toBe(200); // starting: counted from the start
    expect(JSON.parse(m.health().body)).toMatchObject({ status: 'ok', reason: /no pass has ended yet/ });
    c.advance(3 * MIN);
    expect(m.health().code).toBe(503);
    m.passEnded(report(), [c1]);
    expect(m.health()).toMatchObject({ code: 200 });
    c.advance(2 * MIN);
    m.passFailed(1, 100, false);
    m.passFailed(2, 100, false);
    expect(m.health().code).toBe(200);
    c.advance(MIN);
    const h = m.health();
    expect(h.code).toBe(503);
    expect(h.body).not.toContain('\n');
    expect(JSON.parse(h.body)).toEqual({
      status: 'unhealthy',
      reason: 'last successful pass ended 3m ago (limit 3m: 3 intervals); 2 infrastructure error(s) in a row',
    });
    m.close();
  });

  it('serve (no loop): healthy while InfluxDB answered the last request', () => {
    const m = new Metrics({});
    expect(m.health().code).toBe(200);
    m.close();
  });

  it('counts units per campaign and workflow, from 0; jobs in flight per backend and state; passes and wake-ups', async () => {
    const m = new Metrics({ intervalMs: MIN });
    m.passEnded(report(), [c1]);
    expect(await value(m, 'runctrl_units_done_total', { campaign: 'c1', workflow: 'B' })).toBe(0);
    m.passEnded(
      report(true, [
        {
          campaign: 'c1',
          byWorkflow: { A: { submitted: 2, done: 3, failed: 1 } },
          jobsInFlight: { local: { running: 2, intent: 1 } },
        },
      ]),
      [c1],
    );
    expect(await value(m, 'runctrl_units_done_total', { campaign: 'c1', workflow: 'A' })).toBe(3);
    expect(await value(m, 'runctrl_units_failed_total', { campaign: 'c1', workflow: 'A' })).toBe(1);
    expect(await value(m, 'runctrl_units_submitted_total', { campaign: 'c1', workflow: 'A' })).toBe(2);
    expect(await value(m, 'runctrl_jobs_in_flight', { backend: 'local', state: 'running' })).toBe(2);
    expect(await value(m, 'runctrl_wakeups_total')).toBe(1);
    m.passEnded(report(false, [{ campaign: 'c1', jobsInFlight: {} }]), [c1]);
    // a backend × state seen before drops to 0 instead of vanishing
    expect(await value(m, 'runctrl_jobs_in_flight', { backend: 'local', state: 'running' })).toBe(0);
    expect(await value(m, 'runctrl_passes_total', { kind: 'full', outcome: 'ok' })).toBe(2);
    m.passFailed(1, 10, false);
    expect(await value(m, 'runctrl_passes_total', { kind: 'full', outcome: 'error' })).toBe(1);
    expect(await value(m, 'runctrl_infrastructure_errors_in_a_row')).toBe(1);
    m.close();
  });

  it('leases: held 1/0 per campaign; a lease held at one pass and not at the next counts as lost', async () => {
    const m = new Metrics({ intervalMs: MIN });
    m.leases(['c1', 'c2'], ['c1', 'c2']);
    m.leases(['c1', 'c2'], ['c1']);
    expect(await value(m, 'runctrl_lease_held', { campaign: 'c2' })).toBe(0);
    expect(await value(m, 'runctrl_lease_held', { campaign: 'c1' })).toBe(1);
    expect(await value(m, 'runctrl_lease_losses_total', { campaign: 'c2' })).toBe(1);
    expect(await value(m, 'runctrl_lease_losses_total', { campaign: 'c1' })).toBe(0);
    m.close();
  });
});
