import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userNameInputPattern, userNamePattern, grantLabel, inviteCode, passwordProblem, readGrant, signInProblemMessage, userState } from './users-logic.ts';

const now = Date.parse('2026-12-03T12:00:00Z');

test('a refused sign-in says why; a lockout says until when', () => {
  assert.match(signInProblemMessage({ reason: 'LOCKED', message: 'x', lockedUntil: '2026-12-03T12:15:00.000Z' }, now), /locked until 2026-12-03 12:15 UTC \(about 15 min\)/);
  assert.match(signInProblemMessage({ reason: 'LOCKED', message: 'x', lockedUntil: null }, now), /locked/);
  assert.equal(signInProblemMessage({ reason: 'BAD_CREDENTIALS', message: 'x' }), 'Wrong user name or password.');
  assert.match(signInProblemMessage({ reason: 'DISABLED', message: 'x' }), /disabled/);
  assert.equal(signInProblemMessage({ reason: 'SOMETHING_NEW', message: 'the server says' }), 'the server says');
});

test("a user's state: disabled before locked; a past lockout is over", () => {
  assert.equal(userState({ disabled: true, lockedUntil: '2026-12-03T12:15:00Z' }, now).state, 'disabled');
  assert.deepEqual(userState({ disabled: false, lockedUntil: '2026-12-03T12:15:00Z' }, now), { state: 'locked', text: 'locked until 2026-12-03 12:15 UTC' });
  assert.equal(userState({ disabled: false, lockedUntil: '2026-12-03T11:00:00Z' }, now).state, 'active');
  assert.equal(userState({ disabled: false }, now).state, 'active');
});

test('role grants from the form: empty repo is every repo, empty prefix every app; bad input names its field', () => {
  assert.deepEqual(readGrant({ role: 'UPLOADER', repo: ' stable ', prefix: 'org.example' }), { role: 'UPLOADER', repo: 'stable', prefix: 'org.example' });
  assert.deepEqual(readGrant({ role: 'repo admin', repo: '', prefix: '' }), { role: 'REPO_ADMIN', repo: null, prefix: '' });
  assert.throws(() => readGrant({ role: 'owner', repo: '', prefix: '' }), (e: Error & { field?: string }) => e.field === 'role');
  assert.throws(() => readGrant({ role: 'VIEWER', repo: 'a b', prefix: '' }), (e: Error & { field?: string }) => e.field === 'repo');
  assert.throws(() => readGrant({ role: 'VIEWER', repo: '', prefix: 'org/x' }), (e: Error & { field?: string }) => e.field === 'prefix');
  assert.equal(grantLabel({ role: 'REPO_ADMIN', repo: null, prefix: '' }), 'repo admin on every repo');
  assert.equal(grantLabel({ role: 'UPLOADER', repo: 'stable', prefix: 'org.example' }), 'uploader on stable for org.example*');
});

test('new passwords: 10 to 1024 characters, the same twice', () => {
  assert.equal(passwordProblem('short', 'short'), 'at least 10 characters');
  assert.equal(passwordProblem('x'.repeat(1025), 'x'.repeat(1025)), 'at most 1024 characters');
  assert.equal(passwordProblem('long enough 1', 'long enough 2'), 'the two passwords differ');
  assert.equal(passwordProblem('long enough 1', 'long enough 1'), null);
});

test('the invite code from the dashboard path or the #/invite/ link', () => {
  assert.equal(inviteCode(new URL('https://fmd.example/invite/abc123')), 'abc123');
  assert.equal(inviteCode(new URL('https://fmd.example/web/#/invite/abc%2D123')), 'abc-123');
  assert.equal(inviteCode(new URL('https://fmd.example/invites')), undefined);
  assert.equal(inviteCode(new URL('https://fmd.example/')), undefined);
});

test("the input's pattern (v flag) takes the same names as the server", () => {
  const input = new RegExp(`^(?:${userNameInputPattern})$`, 'v');
  for (const name of ['alice', 'a', 'ci-bot.2', 'x_y', 'Alice', '-a', 'a b', 'a'.repeat(64)]) assert.equal(input.test(name), userNamePattern.test(name), name);
});
