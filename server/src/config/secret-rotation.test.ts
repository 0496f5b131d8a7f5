// The settings of a secret rotation: both halves or neither, and a previous secret as strong as a secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './index.ts';

const strong = Buffer.alloc(32, 7).toString('base64');

test('previous-secret needs previous-secret-until, and 16 bytes of base64', () => {
  const c = loadConfig({ FMD_PREVIOUS_SECRET: strong, FMD_PREVIOUS_SECRET_UNTIL: '2027-01-31T00:00:00Z' });
  assert.deepEqual(c.previousSecret, { secret: strong, until: new Date('2027-01-31T00:00:00Z') });
  assert.equal(loadConfig({}).previousSecret, undefined);
  assert.throws(() => loadConfig({ FMD_PREVIOUS_SECRET: strong }), (e: unknown) => e instanceof ConfigError && /previous-secret-until: required/.test(e.message));
  assert.throws(() => loadConfig({ FMD_PREVIOUS_SECRET: 'c2hvcnQ=', FMD_PREVIOUS_SECRET_UNTIL: '2027-01-31' }), (e: unknown) => e instanceof ConfigError && /at least 16 bytes/.test(e.message));
  assert.throws(() => loadConfig({ FMD_PREVIOUS_SECRET: strong, FMD_PREVIOUS_SECRET_UNTIL: 'next tuesday' }), ConfigError);
});
