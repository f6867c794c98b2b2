/** The secrets the process knows and their redaction from served text (issue 14 item 4). */
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { knownSecrets, Redactor } from '../../src/util/redact.js';

const env = {
  HOME: '/home/op',
  PWD: '/home/op/work',
  RUNCTRL_INFLUXDB_PASSWORD: 'influx-pw-1',
  RUNCTRL_INFLUXDB_TOKEN: 'influx-token-2',
  RUNCTRL_OMS_CLIENT_SECRET: 'oms-secret-3',
  RUNCTRL_OMS_TOKEN: 'oms-token-4',
  RUNCTRL_WEBHOOKS: 'https://hooks.example.org/services/T000/B000/XXXXsecret',
  MY_API_KEY: 'api-key-5',
};

describe('knownSecrets', () => {
  it('gathers the InfluxDB, OMS and webhook secrets of the config and secret-named variables', () => {
    const s = knownSecrets(resolveConfig({}, env, os.tmpdir()), env);
    for (const v of Object.values(env).filter((v) => v.includes('-') || v.includes('secret')))
      expect(s).toContain(v);
    expect(s).toContain('/services/T000/B000/XXXXsecret');
    // the shell's working directory is not a secret
    expect(s).not.toContain('/home/op/work');
  });
});

describe('Redactor', () => {
  const r = new Redactor(['pw-"q"\\x', 'abc', 'token-one', 'token-one-longer']);

  it('masks each secret as it is, as JSON escapes it and as a URL encodes it', () => {
    expect(r.text('a pw-"q"\\x b')).toBe('a *** b');
    expect(r.text(JSON.stringify({ p: 'pw-"q"\\x' }))).toBe('{"p":"***"}');
    expect(r.text(`?p=${encodeURIComponent('pw-"q"\\x')}`)).toBe('?p=***');
    expect(r.text('token-one-longer and token-one')).toBe('*** and ***');
  });

  it('leaves secrets shorter than 4 characters alone (they would blank out text)', () => {
    expect(r.text('abc')).toBe('abc');
  });

  it('walks values: strings, keys, arrays, nested objects; other types kept', () => {
    expect(r.value({ 'token-one': ['x token-one', 3, null, { y: 'token-one' }], n: 1, b: true })).toEqual({
      '***': ['x ***', 3, null, { y: '***' }],
      n: 1,
      b: true,
    });
  });
});
