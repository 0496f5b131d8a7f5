import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { identifyEvent, parsePush, verifySignature } from './webhooks.ts';
import { InvalidInputError } from '../../errors.ts';

const secret = 'a webhook secret of some length';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', before: '0'.repeat(40), after: 'ab'.repeat(20) }));
const hmac = (b: Buffer, s = secret) => createHmac('sha256', s).update(b).digest('hex');

test('the forge is told by its own event header first (Gitea also sends GitHub\'s)', () => {
  assert.deepEqual(identifyEvent({ 'x-github-event': 'push', 'x-gitea-event': 'push' }), { forge: 'gitea', kind: 'push', name: 'push' });
  assert.deepEqual(identifyEvent({ 'x-forgejo-event': 'create' }), { forge: 'gitea', kind: 'other', name: 'create' });
  assert.deepEqual(identifyEvent({ 'x-gitlab-event': 'Push Hook' }), { forge: 'gitlab', kind: 'push', name: 'Push Hook' });
  assert.deepEqual(identifyEvent({ 'x-gitlab-event': 'Tag Push Hook' }), { forge: 'gitlab', kind: 'other', name: 'Tag Push Hook' });
  assert.deepEqual(identifyEvent({ 'x-github-event': 'ping' }), { forge: 'github', kind: 'ping', name: 'ping' });
  assert.deepEqual(identifyEvent({ 'x-github-event': 'issues' }), { forge: 'github', kind: 'other', name: 'issues' });
  assert.equal(identifyEvent({ 'content-type': 'application/json' }), null);
});

test('GitHub: sha256=<hex HMAC> of the raw body; anything else is refused', () => {
  const ev = identifyEvent({ 'x-github-event': 'push' })!;
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': `sha256=${hmac(body)}` }, body, secret), true);
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': `sha256=${hmac(body).toUpperCase()}` }, body, secret), true);
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': `sha256=${hmac(body, 'another secret')}` }, body, secret), false);
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': `sha256=${hmac(Buffer.concat([body, Buffer.from(' ')]))}` }, body, secret), false);
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': hmac(body) }, body, secret), false, 'no sha256= prefix');
  assert.equal(verifySignature(ev, { 'x-hub-signature-256': 'sha256=abc' }, body, secret), false, 'short');
  assert.equal(verifySignature(ev, {}, body, secret), false, 'missing');
  // A Gitea signature header does not sign a GitHub event.
  assert.equal(verifySignature(ev, { 'x-gitea-signature': hmac(body) }, body, secret), false);
});

test('Gitea / Forgejo: bare hex HMAC', () => {
  const ev = identifyEvent({ 'x-gitea-event': 'push' })!;
  assert.equal(verifySignature(ev, { 'x-gitea-signature': hmac(body) }, body, secret), true);
  assert.equal(verifySignature(ev, { 'x-forgejo-signature': hmac(body) }, body, secret), true);
  assert.equal(verifySignature(ev, { 'x-gitea-signature': hmac(body, 'wrong secret!!!!') }, body, secret), false);
  assert.equal(verifySignature(ev, { 'x-gitea-signature': `sha256=${hmac(body)}` }, body, secret), false);
  assert.equal(verifySignature(ev, {}, body, secret), false);
});

test('GitLab: the secret token itself', () => {
  const ev = identifyEvent({ 'x-gitlab-event': 'Push Hook' })!;
  assert.equal(verifySignature(ev, { 'x-gitlab-token': secret }, body, secret), true);
  assert.equal(verifySignature(ev, { 'x-gitlab-token': `${secret}x` }, body, secret), false);
  assert.equal(verifySignature(ev, { 'x-gitlab-token': secret.slice(1) }, body, secret), false);
  assert.equal(verifySignature(ev, {}, body, secret), false);
});

test('push events: branch, commit, deleted refs, form encoding; bad bodies are invalid input', () => {
  assert.deepEqual(parsePush(body, 'application/json'), { ref: 'refs/heads/main', branch: 'main', after: 'ab'.repeat(20), deleted: false });
  const form = Buffer.from(new URLSearchParams({ payload: body.toString() }).toString());
  assert.deepEqual(parsePush(form, 'application/x-www-form-urlencoded'), parsePush(body, undefined));
  const tag = parsePush(Buffer.from(JSON.stringify({ ref: 'refs/tags/v1', after: 'cd'.repeat(20) })), undefined);
  assert.equal(tag.branch, null);
  const gone = parsePush(Buffer.from(JSON.stringify({ ref: 'refs/heads/old', after: '0'.repeat(40) })), undefined);
  assert.equal(gone.deleted, true);
  const sha256Repo = parsePush(Buffer.from(JSON.stringify({ ref: 'refs/heads/x/y', after: 'e'.repeat(64) })), undefined);
  assert.equal(sha256Repo.branch, 'x/y');
  for (const bad of ['', 'not json', '[]', '{}', JSON.stringify({ ref: 'main', after: 'ab'.repeat(20) }), JSON.stringify({ ref: 'refs/heads/main', after: 'HEAD' }), JSON.stringify({ ref: 'refs/heads/main', after: 'AB'.repeat(20) })]) {
    assert.throws(() => parsePush(Buffer.from(bad), 'application/json'), InvalidInputError, bad);
  }
  assert.throws(() => parsePush(Buffer.from('other=1'), 'application/x-www-form-urlencoded'), InvalidInputError);
});
