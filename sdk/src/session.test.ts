// When a session's access token is renewed: read from the token itself (a JWT's exp) or the
// expiry signIn answered, a minute ahead; and which answers mean "expired, renew and retry".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessTokenExpiry, FmdRequestError, isExpiredTokenError, needsRefresh } from './index.ts';

const jwt = (claims: object) => `${btoa('{"alg":"HS256"}')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('the expiry comes from accessTokenExpiresAt, else from the JWT exp claim', () => {
  assert.equal(accessTokenExpiry({ accessToken: jwt({ exp: 2_000_000_000 }) }), 2_000_000_000_000);
  assert.equal(accessTokenExpiry({ accessToken: jwt({ exp: 1 }), accessTokenExpiresAt: '2030-01-01T00:00:00Z' }), Date.parse('2030-01-01T00:00:00Z'));
  assert.equal(accessTokenExpiry({ accessToken: 'not-a-jwt' }), undefined);
  assert.equal(accessTokenExpiry({ accessToken: jwt({ sub: 'x' }) }), undefined);
});

test('renewed when less than 60 s are left, not before', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  const at = (secs: number) => ({ accessToken: 'x', accessTokenExpiresAt: new Date(now + secs * 1000).toISOString() });
  assert.equal(needsRefresh(at(61), now), false);
  assert.equal(needsRefresh(at(59), now), true);
  assert.equal(needsRefresh(at(-5), now), true);
  assert.equal(needsRefresh({ accessToken: 'opaque' }, now), false);
});

test('only UNAUTHENTICATED with reason "expired" asks for a renewal', () => {
  const err = (extensions: Record<string, unknown>) => new FmdRequestError('no', { status: 401, errors: [{ message: 'no', extensions }] });
  assert.equal(isExpiredTokenError(err({ code: 'UNAUTHENTICATED', reason: 'expired' })), true);
  assert.equal(isExpiredTokenError(err({ code: 'UNAUTHENTICATED', reason: 'revoked' })), false);
  assert.equal(isExpiredTokenError(err({ code: 'FORBIDDEN', reason: 'expired' })), false);
  assert.equal(isExpiredTokenError([{ message: 'x', extensions: { code: 'UNAUTHENTICATED', reason: 'expired' } }]), true);
  assert.equal(isExpiredTokenError(new Error('expired')), false);
});
