import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forgetConnection, loadConnection, saveConnection } from './settings.ts';

function memoryStorage() {
  const items = new Map<string, string>();
  return {
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, v),
    removeItem: (k: string) => void items.delete(k),
  };
}

test('a saved connection loads back, trimmed, and can be forgotten', () => {
  const storage = memoryStorage();
  assert.equal(loadConnection(storage), undefined);
  saveConnection(storage, { url: ' http://localhost:8080 ', token: 'abc\n' });
  assert.deepEqual(loadConnection(storage), { url: 'http://localhost:8080', token: 'abc' });
  forgetConnection(storage);
  assert.equal(loadConnection(storage), undefined);
});

test('garbage in storage is ignored', () => {
  const storage = memoryStorage();
  storage.setItem('fmd.connection', '{not json');
  assert.equal(loadConnection(storage), undefined);
  storage.setItem('fmd.connection', JSON.stringify({ url: 'http://x' }));
  assert.equal(loadConnection(storage), undefined);
});

test("a password sign-in's session keeps its refresh token and expiry", () => {
  const storage = memoryStorage();
  saveConnection(storage, { url: 'http://x', token: 'access', refreshToken: 'refresh', accessTokenExpiresAt: '2026-12-03T12:15:00.000Z' });
  assert.deepEqual(loadConnection(storage), { url: 'http://x', token: 'access', refreshToken: 'refresh', accessTokenExpiresAt: '2026-12-03T12:15:00.000Z' });
  saveConnection(storage, { url: 'http://x', token: 'api-token' });
  assert.deepEqual(loadConnection(storage), { url: 'http://x', token: 'api-token' });
});
