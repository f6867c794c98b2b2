import { describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../../src/errors.js';
import { encodePoints, int } from '../../src/store/lineproto.js';
import { InfluxClient } from '../../src/store/influx.js';
import { freshDb } from '../helpers/influx.js';

describe('InfluxClient against a real influxd', () => {
  const client = freshDb('client');

  it('creates the database, writes escaped names and reads them back', async () => {
    await client.createDatabase();
    expect(await client.databaseExists()).toBe(true);
    const nasty = `we"ird, na=me\\'x`;
    const { lines } = encodePoints([
      {
        measurement: 'run',
        tags: { campaign: nasty, workflow: 'w 1' },
        fields: { run: int(7), status: 'say "hi"' },
        key: 7,
      },
      {
        measurement: 'run',
        tags: { campaign: nasty, workflow: 'w 1' },
        fields: { run: int(8), status: 'new' },
        key: 8,
      },
    ]);
    await client.write(lines);
    const rows = await client.rows('SELECT * FROM "run" WHERE "campaign" = $c ORDER BY time', { c: nasty });
    expect(rows.map((r) => [r.run, r.status, r.workflow])).toEqual([
      [7, 'say "hi"', 'w 1'],
      [8, 'new', 'w 1'],
    ]);
  });

  it('keeps two points of one entity written in quick succession (unique timestamps)', async () => {
    const a = encodePoints([{ measurement: 'm', tags: { c: 'x' }, fields: { v: int(1) }, key: 5 }]);
    const b = encodePoints([{ measurement: 'm', tags: { c: 'x' }, fields: { v: int(2) }, key: 5 }]);
    await client.write([...a.lines, ...b.lines]);
    const rows = await client.rows('SELECT v FROM m');
    expect(rows.map((r) => r.v)).toEqual([1, 2]);
  });

  it('maps an unreachable server to a transient error that names the URL', async () => {
    const dead = new InfluxClient({
      url: 'http://127.0.0.1:9',
      db: 'x',
      backoff: { attempts: 2, baseMs: 1, maxMs: 2 },
    });
    const err = await dead.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect(String((err as Error).message)).toMatch(/cannot reach InfluxDB at http:\/\/127\.0\.0\.1:9/);
  });

  it('maps an unknown database on write to a user error', async () => {
    const other = new InfluxClient({ url: client.url, db: 'no_such_db_here' });
    await expect(other.write(['m v=1 1'])).rejects.toBeInstanceOf(UserError);
  });
});
