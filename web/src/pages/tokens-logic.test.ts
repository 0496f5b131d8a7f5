import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultExpiry, describeClaim, grantableScopes, maxDurationSeconds, parseClaimList, sortTokens, tokenState } from './tokens-logic.ts';

const now = Date.parse('2026-12-03T12:00:00Z');

test('a token is revoked, expired or active', () => {
  assert.equal(tokenState({ revokedAt: '2026-12-01T00:00:00Z', expiresAt: null }, now), 'revoked');
  assert.equal(tokenState({ revokedAt: null, expiresAt: '2026-12-03T11:59:59Z' }, now), 'expired');
  assert.equal(tokenState({ revokedAt: null, expiresAt: '2027-01-01T00:00:00Z' }, now), 'active');
  assert.equal(tokenState({ revokedAt: null, expiresAt: null }, now), 'active');
});

test('claims read as flat-manager means them: [""] is everything, [] nothing', () => {
  assert.equal(describeClaim([''], 'repos'), 'all repos');
  assert.equal(describeClaim([], 'repos'), 'no repo');
  assert.equal(describeClaim([''], 'prefixes'), 'all apps');
  assert.equal(describeClaim(['org.a', 'org.b'], 'prefixes'), 'org.a, org.b');
  assert.equal(describeClaim([], 'apps'), 'none');
});

test('only the viewer’s own scopes can be granted, and no longer than it lives', () => {
  assert.deepEqual(grantableScopes(['upload', 'build', 'nonsense']), ['build', 'upload']);
  assert.equal(maxDurationSeconds('2026-12-03T13:00:00Z', now), 3600);
  assert.equal(maxDurationSeconds('2026-12-01T00:00:00Z', now), 0);
});

test('active tokens come first, newest first', () => {
  const t = (name: string, createdAt: string, revokedAt: string | null = null, expiresAt: string | null = null) => ({ name, createdAt, revokedAt, expiresAt });
  const sorted = sortTokens([t('old', '2026-01-01'), t('revoked', '2026-12-01', '2026-12-02'), t('new', '2026-06-01'), t('expired', '2026-11-01', null, '2026-11-02')], now);
  assert.deepEqual(
    sorted.map((x) => x.name),
    ['new', 'old', 'expired', 'revoked'],
  );
});

test('claim lists typed in the form: empty inherits, * is everything', () => {
  assert.equal(parseClaimList([]), undefined);
  assert.deepEqual(parseClaimList(['*']), ['']);
  assert.deepEqual(parseClaimList(['stable', 'beta']), ['stable', 'beta']);
});

test('the suggested expiry never outlives the creating token', () => {
  assert.equal(defaultExpiry(365 * 86400), '90d');
  assert.equal(defaultExpiry(10.5 * 86400), '10d');
  assert.equal(defaultExpiry(3599 + 3600), '1h');
  assert.equal(defaultExpiry(600), '10m');
});
