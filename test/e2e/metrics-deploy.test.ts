/**
 * deploy/: the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`); the Grafana
 * dashboard (not testable here without Grafana) is valid JSON whose queries name only metrics runctrl exports, as
 * do the rules.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/automation/metrics.js';
import { Store } from '../../src/store/store.js';
import { ROOT } from '../helpers/ctx.js';

const DEPLOY = path.join(ROOT, 'deploy');

function promtool(args: string[]): { code: number; out: string } {
  const r = spawnSync('promtool', args, { cwd: DEPLOY, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Names of the series runctrl exposes (histograms as their _bucket, _count and _sum). */
async function exported(): Promise<Set<string>> {
  const m = new Metrics({
    intervalMs: 60_000,
    stateDir: '/nonexistent',
    store: Store.open({ url: 'http://127.0.0.1:9', db: 'none' }),
  });
  const names = new Set<string>();
  for (const x of await m.registry.getMetricsAsJSON()) {
    names.add(x.name);
    if (String(x.type) === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(x.name + s);
  }
  m.close();
  return names;
}

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(?:runctrl|process|nodejs)_[a-z0-9_]+\b/g)].map((x) => x[0]);
}

describe('deploy/: alert rules and the Grafana dashboard', () => {
  let names: Set<string>;
  beforeAll(async () => {
    execFileSync('bash', [path.join(ROOT, 'scripts', 'prometheus.sh'), 'install'], { stdio: 'ignore' });
    names = await exported();
  });

  it('promtool check rules and promtool test rules pass', () => {
    const check = promtool(['check', 'rules', 'prometheus-rules.yml']);
    expect(check.code, check.out).toBe(0);
    expect(check.out).toMatch(/SUCCESS: 5 rules found/);
    const test = promtool(['test', 'rules', 'prometheus-rules.test.yml']);
    expect(test.code, test.out).toBe(0);
  });

  it('the rules and the dashboard name only metrics runctrl exports', () => {
    const rules = readFileSync(path.join(DEPLOY, 'prometheus-rules.yml'), 'utf8');
    const exprs = [...rules.matchAll(/^\s*expr: (.*)$/gm)].map((x) => x[1] ?? '');
    expect(exprs).toHaveLength(5);
    const dash = JSON.parse(readFileSync(path.join(DEPLOY, 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dash.panels.length).toBeGreaterThan(10);
    const queries = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const used = new Set([...exprs, ...queries].flatMap(metricNames));
    expect(used.size).toBeGreaterThan(15);
    const unknown = [...used].filter((n) => !names.has(n));
    expect(unknown).toEqual([]);
    // every runctrl metric has a panel
    const runctrl = [...names].filter((n) => n.startsWith('runctrl_') && !/_(bucket|count|sum)$/.test(n));
    const shown = new Set(queries.flatMap(metricNames).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
    expect(runctrl.filter((n) => !shown.has(n))).toEqual([]);
  });
});
