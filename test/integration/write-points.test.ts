/** InfluxClient.writePoints: batch-by-batch encoding with one request in flight, against the real influxd. */
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { InfluxClient } from '../../src/store/influx.js';
import { int, type PointSpec } from '../../src/store/lineproto.js';
import { freshDb, influxUrl } from '../helpers/influx.js';

const base = freshDb('wp');

function* statuses(n: number, workflows: string[]): Generator<PointSpec> {
  for (const w of workflows)
    for (let run = 1; run <= n; run++)
      yield {
        measurement: 'run',
        tags: { campaign: 'c', workflow: w },
        fields: { run: int(run), status: 'new' },
        key: run,
      };
}

describe('writePoints', () => {
  it('writes every point of a generator in batches, reporting progress, with unique timestamps', async () => {
    await base.createDatabase();
    const client = new InfluxClient({ url: influxUrl(), db: base.db, batchSize: 7 });
    const progress: number[] = [];
    await client.writePoints(statuses(25, ['a', 'b']), (n) => progress.push(n));
    expect(progress).toEqual([7, 14, 21, 28, 35, 42, 49, 50]);
    expect(client.stats.writes).toBe(8);
    const rows = await base.rows('SELECT "run" FROM "run" GROUP BY "workflow"');
    expect(rows).toHaveLength(50);
    expect(rows.filter((r) => r.workflow === 'a').map((r) => r.run)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
  });

  it('keeps both points when one entity appears twice in the same write', async () => {
    const client = new InfluxClient({ url: influxUrl(), db: base.db, batchSize: 3 });
    const twice: PointSpec[] = [1, 2, 1, 2].map((v, i) => ({
      measurement: 'twice',
      tags: { c: 'x' },
      fields: { v: int(i) },
      key: v,
    }));
    await client.writePoints(twice);
    expect((await base.rows('SELECT "v" FROM "twice"')).map((r) => r.v)).toEqual([0, 1, 2, 3]);
  });

  it('stops at the first failing batch with the mapped error', async () => {
    const client = new InfluxClient({ url: influxUrl(), db: 'no_such_db_wp', batchSize: 5 });
    let made = 0;
    function* counted(): Generator<PointSpec> {
      for (const p of statuses(100, ['a'])) {
        made++;
        yield p;
      }
    }
    await expect(client.writePoints(counted())).rejects.toBeInstanceOf(UserError);
    expect(made).toBeLessThan(100);
    // batches encoded ahead are never sent once one has failed
    expect(client.stats.writes).toBe(1);
  });
});
