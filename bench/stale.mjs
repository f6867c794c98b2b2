#!/usr/bin/env node
/**
 * Benchmark of stale results (issue 18): the cost of deriving them from a campaign's held state, which `status`,
 * the grid API, `why` and (for workflows with "on_input_change": "reprocess") every pass pay.
 *
 *   npm run build && node bench/stale.mjs [--runs=10000] [--workflows=10] [--reps=7]
 *
 * Builds a StateTable of R runs × W workflows in a chain (w1 after w0, …; the last one by era), every pair done
 * with one output and its provenance, and every 10th run of w0 re-run (so a tenth of w1 and the whole era of the
 * last workflow are stale). Prints the median time of staleResults over the whole campaign against building every
 * state object once (values(), what iterating a campaign's states costs): target ≤ 0.75; and, for scale, one
 * forEachStatus walk (the statuses only, as counting does).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { StateTable } = await import(path.join(root, 'dist/domain/state-table.js'));
const { staleResults } = await import(path.join(root, 'dist/domain/stale.js'));
const { encodeProvenance } = await import(path.join(root, 'dist/domain/provenance.js'));

const arg = (k, d) => Number(process.argv.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
const R = arg('runs', 10_000);
const W = arg('workflows', 10);
const REPS = arg('reps', 7);

const wfs = Array.from({ length: W }, (_, i) => ({
  name: `w${i}`,
  command: 'true',
  backend: 'local',
  resources: {},
  dependsOn: i === 0 ? [] : [`w${i - 1}`],
  maxRetries: 1,
  granularity: { kind: i === W - 1 ? 'era' : 'run' },
}));
const campaign = { name: 'c', description: '', createdAt: 0, rtypes: [], workflows: wfs };
const t = new StateTable();
for (let r = 0; r < R; r++) {
  const run = 100_000 + r;
  for (const w of wfs) {
    const d = w.dependsOn[0];
    const unit = w.granularity.kind === 'era' ? `gE${Math.floor(r / 500)}-x` : `r${run}`;
    t.put({
      run,
      workflow: w.name,
      status: 'done',
      attempt: w.name === 'w0' && r % 10 === 0 ? 2 : 1,
      tries: 1,
      outputs: [`/eos/c/${w.name}/${run}.root`],
      reason: '',
      time: 1,
      ...(d
        ? {
            inputsFrom: encodeProvenance({
              unit,
              from: [{ workflow: d, run, attempt: 1, outputs: [`/eos/c/${d}/${run}.root`] }],
            }),
          }
        : {}),
    });
  }
}

const median = (f) => {
  const ts = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return ts.sort((a, b) => a - b)[Math.floor(REPS / 2)];
};
let stale = 0;
const tStale = median(() => (stale = staleResults(campaign, t).size));
const tWalk = median(() => t.forEachStatus(() => undefined));
const tValues = median(() => {
  for (const s of t.values()) void s;
});
console.log(`${R} runs × ${W} workflows, ${stale} stale pairs`);
console.log(`staleResults      ${tStale.toFixed(1)} ms`);
console.log(`forEachStatus     ${tWalk.toFixed(1)} ms   ratio ${(tStale / tWalk).toFixed(1)} (target ≤ 10)`);
console.log(
  `values()          ${tValues.toFixed(1)} ms   ratio ${(tStale / tValues).toFixed(2)} (target ≤ 0.5)`,
);
