import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { lockDir } from './dir-lock.ts';

test('one holder at a time: the second waits (told who holds it) until the first releases', async () => {
  const dir = path.join(await mkdtemp(path.join(tmpdir(), 'fmd-lock-')), 'state');
  const first = await lockDir(dir, { owner: 'build 1' });
  const told: string[] = [];
  let got = false;
  const second = lockDir(dir, { owner: 'build 2', everyMs: 20, waiting: (h) => told.push(h) }).then((l) => ((got = true), l));
  // The second is polling: it has said whom it waits for and has not got the lock.
  for (let i = 0; i < 200 && told.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(told, ['build 1']);
  assert.equal(got, false);
  await first.release();
  const l2 = await second;
  assert.equal(got, true);
  await l2.release();
});

test('a lock left by a dead process on this host is taken over; an abort stops the wait', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fmd-lock-'));
  // A pid that cannot be running: above the kernel's maximum.
  await writeFile(path.join(dir, '.fmd-lock'), `${hostname()} 99999999 build 7\n`);
  const l = await lockDir(dir, { owner: 'build 8' });
  const ac = new AbortController();
  const waiting = lockDir(dir, { owner: 'build 9', everyMs: 20, signal: ac.signal, waiting: () => ac.abort(new Error('gave up')) });
  await assert.rejects(waiting, /gave up/);
  await l.release();
});
