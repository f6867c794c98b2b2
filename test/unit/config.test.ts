import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactedConfig, resolveConfig, SAMPLE_REGISTRY } from '../../src/config.js';
import { UserError } from '../../src/errors.js';

function dirWithDotenv(text?: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-cfg-'));
  if (text !== undefined) writeFileSync(path.join(dir, '.env'), text);
  return dir;
}

describe('resolveConfig', () => {
  it('uses defaults when nothing is given', () => {
    const dir = dirWithDotenv();
    const c = resolveConfig({}, { HOME: '/home/op' }, dir);
    expect(c).toMatchObject({
      influxUrl: 'http://127.0.0.1:8086',
      db: undefined,
      user: undefined,
      password: undefined,
      token: undefined,
      timeoutMs: 30_000,
      runSource: SAMPLE_REGISTRY,
      stateDir: '/home/op/.local/state/runctrl',
      webhooks: [],
      verbose: false,
    });
  });

  it('puts the default state directory under XDG_STATE_HOME when it is absolute, never under the working directory', () => {
    const dir = dirWithDotenv();
    expect(resolveConfig({}, { XDG_STATE_HOME: '/var/lib/op/state', HOME: '/home/op' }, dir).stateDir).toBe(
      '/var/lib/op/state/runctrl',
    );
    expect(resolveConfig({}, { XDG_STATE_HOME: 'relative', HOME: '/home/op' }, dir).stateDir).toBe(
      '/home/op/.local/state/runctrl',
    );
    expect(resolveConfig({ stateDir: 'here' }, { HOME: '/home/op' }, dir).stateDir).toBe(
      path.join(dir, 'here'),
    );
  });

  it('takes flags over the environment over .env over defaults, setting by setting', () => {
    const dir = dirWithDotenv(
      [
        'RUNCTRL_INFLUXDB_URL=http://dotenv:1',
        'RUNCTRL_DB=dot_db',
        'RUNCTRL_INFLUXDB_TIMEOUT=111',
        'RUNCTRL_RUN_SOURCE=dot.json',
        'RUNCTRL_STATE_DIR=dotstate',
        'RUNCTRL_INFLUXDB_USER=dotuser',
      ].join('\n'),
    );
    const env = {
      RUNCTRL_INFLUXDB_URL: 'http://env:2/',
      RUNCTRL_DB: 'env_db',
      RUNCTRL_INFLUXDB_TIMEOUT: '222',
    };
    const c = resolveConfig({ db: 'flag_db' }, env, dir);
    expect(c.db).toBe('flag_db'); // flag
    expect(c.influxUrl).toBe('http://env:2'); // env (trailing slash dropped)
    expect(c.timeoutMs).toBe(222); // env
    expect(c.runSource).toBe('dot.json'); // .env
    expect(c.stateDir).toBe(path.join(dir, 'dotstate')); // .env, relative to the working directory
    expect(c.user).toBe('dotuser'); // .env
    const f = resolveConfig(
      { influxUrl: 'https://flag:3', influxTimeout: 333, influxUser: 'flaguser', runSource: 'f.csv' },
      env,
      dir,
    );
    expect([f.influxUrl, f.timeoutMs, f.user, f.runSource]).toEqual([
      'https://flag:3',
      333,
      'flaguser',
      'f.csv',
    ]);
  });

  it('honours ECAL_INFLUXDB_USER / ECAL_INFLUXDB_PWD, with the project names first', () => {
    const dir = dirWithDotenv();
    const ecal = resolveConfig({}, { ECAL_INFLUXDB_USER: 'ecalop', ECAL_INFLUXDB_PWD: 'ecalpw' }, dir);
    expect([ecal.user, ecal.password]).toEqual(['ecalop', 'ecalpw']);
    const both = resolveConfig(
      {},
      {
        ECAL_INFLUXDB_USER: 'ecalop',
        ECAL_INFLUXDB_PWD: 'ecalpw',
        RUNCTRL_INFLUXDB_USER: 'rc',
        RUNCTRL_INFLUXDB_PASSWORD: 'rcpw',
      },
      dir,
    );
    expect([both.user, both.password]).toEqual(['rc', 'rcpw']);
  });

  it('reads the password from .env when the environment has none, and ignores empty values', () => {
    const dir = dirWithDotenv(
      'ECAL_INFLUXDB_USER=dotop\nECAL_INFLUXDB_PWD=dotpw\nRUNCTRL_INFLUXDB_TOKEN=tok\n',
    );
    const c = resolveConfig({}, { ECAL_INFLUXDB_PWD: '' }, dir);
    expect([c.user, c.password, c.token]).toEqual(['dotop', 'dotpw', 'tok']);
  });

  it('reads webhooks from a comma list', () => {
    const c = resolveConfig({}, { RUNCTRL_WEBHOOKS: 'http://a/x, http://b/y,' }, dirWithDotenv());
    expect(c.webhooks).toEqual(['http://a/x', 'http://b/y']);
    expect(
      resolveConfig({ webhook: ['http://f'] }, { RUNCTRL_WEBHOOKS: 'http://a' }, dirWithDotenv()).webhooks,
    ).toEqual(['http://f']);
  });

  it.each([
    [{ influxTimeout: 0 }, {}, /invalid InfluxDB timeout '0'/],
    [{}, { RUNCTRL_INFLUXDB_TIMEOUT: 'soon' }, /invalid InfluxDB timeout 'soon'/],
    [{ influxUrl: 'not a url' }, {}, /invalid InfluxDB URL 'not a url': give it as http\(s\):\/\/host:port/],
    [{ influxUrl: 'http://op:secretpw@host:8086' }, {}, /put no credentials in the InfluxDB URL/],
  ])('refuses bad settings with a user error: %j %j', (flags, env, re) => {
    expect(() => resolveConfig(flags, env, dirWithDotenv())).toThrow(UserError);
    expect(() => resolveConfig(flags, env, dirWithDotenv())).toThrow(re);
  });

  it('never echoes a password given inside a URL', () => {
    for (const url of ['http://op:secretpw@host:8086', 'ht tp://op:secretpw@host']) {
      const msg = (() => {
        try {
          resolveConfig({ influxUrl: url }, {}, dirWithDotenv());
        } catch (e) {
          return (e as Error).message;
        }
        return '';
      })();
      expect(msg).not.toBe('');
      expect(msg).not.toContain('secretpw');
    }
  });
});

describe('redactedConfig', () => {
  it('hides the password and the token but keeps the rest', () => {
    const c = resolveConfig(
      {},
      { ECAL_INFLUXDB_USER: 'ecalop', ECAL_INFLUXDB_PWD: 's3cr3t-pw', RUNCTRL_INFLUXDB_TOKEN: 'tok-123' },
      dirWithDotenv(),
    );
    const r = redactedConfig(c);
    const text = JSON.stringify(r);
    expect(text).not.toContain('s3cr3t-pw');
    expect(text).not.toContain('tok-123');
    expect(r).toMatchObject({
      user: 'ecalop',
      password: '***',
      token: '***',
      influxUrl: 'http://127.0.0.1:8086',
    });
    expect(redactedConfig(resolveConfig({}, {}, dirWithDotenv())).password).toBeUndefined();
  });
});
