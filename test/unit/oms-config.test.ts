/** OMS settings: environment over .env, never a flag, secrets redacted; credentials need both halves. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactedConfig, resolveConfig } from '../../src/config.js';
import { omsCredentialsFrom, openRunSource, OmsSource } from '../../src/sources/index.js';

describe('OMS settings', () => {
  it('reads RUNCTRL_OMS_* from the environment over .env, and redacts the secret ones', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'runctrl-omscfg-'));
    writeFileSync(
      path.join(dir, '.env'),
      'RUNCTRL_OMS_CLIENT_ID=dot-id\nRUNCTRL_OMS_CLIENT_SECRET=dot-s3cret\nRUNCTRL_OMS_AUDIENCE=cmsoms-int-0185\n',
    );
    const c = resolveConfig({}, { RUNCTRL_OMS_CLIENT_ID: 'env-id', RUNCTRL_OMS_COOKIE: 'c-s3cret' }, dir);
    expect(c.oms).toEqual({
      RUNCTRL_OMS_CLIENT_ID: 'env-id',
      RUNCTRL_OMS_CLIENT_SECRET: 'dot-s3cret',
      RUNCTRL_OMS_AUDIENCE: 'cmsoms-int-0185',
      RUNCTRL_OMS_COOKIE: 'c-s3cret',
    });
    const shown = JSON.stringify(redactedConfig(c));
    expect(shown).toContain('env-id');
    expect(shown).toContain('cmsoms-int-0185');
    expect(shown).not.toContain('s3cret');
  });

  it('builds client credentials with defaults, and refuses half a pair or a token besides', () => {
    const get = (env: Record<string, string>) => (n: string) => env[n];
    expect(omsCredentialsFrom(get({}))).toBeUndefined();
    expect(omsCredentialsFrom(get({ RUNCTRL_OMS_CLIENT_ID: 'a', RUNCTRL_OMS_CLIENT_SECRET: 'b' }))).toEqual({
      clientId: 'a',
      clientSecret: 'b',
      audience: undefined,
      tokenUrl: undefined,
    });
    expect(() => omsCredentialsFrom(get({ RUNCTRL_OMS_CLIENT_ID: 'a' }))).toThrow(
      /RUNCTRL_OMS_CLIENT_SECRET is not set/,
    );
    const s = openRunSource('oms', {
      env: { RUNCTRL_OMS_CLIENT_ID: 'a', RUNCTRL_OMS_CLIENT_SECRET: 'b-s3cret' },
    });
    expect(s).toBeInstanceOf(OmsSource);
    expect((s as OmsSource).auth?.toJSON()).toEqual({
      tokenUrl: 'https://auth.cern.ch/auth/realms/cern/api-access/token',
      audience: 'cmsoms-prod',
      clientId: 'a',
    });
    expect(JSON.stringify(s)).not.toContain('s3cret');
    expect(() =>
      openRunSource('oms', {
        env: { RUNCTRL_OMS_CLIENT_ID: 'a', RUNCTRL_OMS_CLIENT_SECRET: 'b', RUNCTRL_OMS_TOKEN: 't' },
      }),
    ).toThrow(/either an OMS token .* or client credentials/);
    expect(() =>
      openRunSource('oms', {
        env: { RUNCTRL_OMS_CLIENT_ID: 'a', RUNCTRL_OMS_CLIENT_SECRET: 'b', RUNCTRL_OMS_TOKEN_URL: 'ftp://x' },
      }),
    ).toThrow(/only http and https/);
  });
});
