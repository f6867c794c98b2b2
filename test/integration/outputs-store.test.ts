/**
 * Outputs holding commas and spaces, and provenance, stored in the real influxd and read back whole, through the
 * full read and through a snapshot; points written before `output_list` (a comma list in `outputs`) still read.
 */
import { describe, expect, it } from 'vitest';
import { freshDb } from '../helpers/influx.js';
import { encodeProvenance } from '../../src/domain/provenance.js';
import { stateKey } from '../../src/domain/state.js';
import { runStatePoint } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';

const client = freshDb('outs');
const store = new Store(client);

describe('outputs and provenance in InfluxDB', () => {
  it('are read back whole, fresh and through a snapshot; older comma lists still decode', async () => {
    await client.createDatabase();
    const outputs = ['/eos/run_900100,v2.root', 'a b.root', `it's "here".root`];
    const inputsFrom = encodeProvenance({
      unit: 'r900100',
      from: [{ workflow: 'a', run: 900100, attempt: 2, outputs: ['/x,y z'] }],
    });
    await store.write([
      runStatePoint('c', {
        run: 900100,
        workflow: 'b',
        status: 'done',
        attempt: 1,
        tries: 1,
        outputs,
        inputsFrom,
      }),
    ]);
    // a point as written before output_list existed
    await client.write([
      `run,campaign=c,workflow=old run=900101i,status="done",attempt=1i,tries=1i,outputs="/eos/a.root,/eos/b.root",reason=""`,
    ]);
    const check = (states: ReadonlyMap<string, { outputs: string[]; inputsFrom?: string }>): void => {
      expect(states.get(stateKey(900100, 'b'))?.outputs).toEqual(outputs);
      expect(states.get(stateKey(900100, 'b'))?.inputsFrom).toBe(inputsFrom);
      expect(states.get(stateKey(900101, 'old'))?.outputs).toEqual(['/eos/a.root', '/eos/b.root']);
    };
    check(await store.runStates('c'));
    const fresh = await store.campaignState('c');
    await store.writeSnapshot('c', fresh, fresh.readAt);
    const viaSnapshot = await store.campaignState('c');
    expect(viaSnapshot.via).toBe('snapshot');
    check(viaSnapshot.states);
  });
});
