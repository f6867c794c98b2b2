/** Use-case contexts and database snapshots for integration and end-to-end tests. */
import path from 'node:path';
import type { Ctx } from '../../src/core/context.js';
import { RegistrySource } from '../../src/sources/registry.js';
import type { InfluxClient } from '../../src/store/influx.js';
import { Store } from '../../src/store/store.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const SAMPLE = path.join(ROOT, 'data', 'runs', 'sample-registry.json');

/** A use-case context on the test database with a run-registry file as run source. */
export function testCtx(client: InfluxClient, registry: string = SAMPLE): Ctx {
  const store = new Store(client);
  const source = new RegistrySource(registry);
  return { store, source: () => source };
}

/**
 * Everything the database holds (every point of every measurement), as comparable text; `null` when the
 * database does not exist. Used to prove that a refused command wrote nothing.
 */
export async function snapshot(client: InfluxClient): Promise<string | null> {
  if (!(await client.databaseExists())) return null;
  const series = await client.query('SELECT * FROM /.*/ GROUP BY *');
  return JSON.stringify(series);
}

/** Number of points in the database (all measurements). */
export async function countPoints(client: InfluxClient): Promise<number> {
  if (!(await client.databaseExists())) return 0;
  const series = await client.query('SELECT * FROM /.*/ GROUP BY *');
  return series.reduce((n, s) => n + s.values.length, 0);
}
