import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { InfluxClient } from '../../src/store/influx.js';

export function influxUrl(): string {
  return inject('influxUrl');
}

/** A fresh database for this test file (dropped after it), and a client on it. */
export function freshDb(prefix = 't'): InfluxClient {
  const db = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new InfluxClient({ url: influxUrl(), db, backoff: { attempts: 2, baseMs: 50, maxMs: 100 } });
  afterAll(async () => {
    await client.dropDatabase().catch(() => undefined);
  });
  return client;
}
