import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appIdOfRef, downloadOf } from './downloads.ts';

const mb64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64').replace(/=+$/, '').replaceAll('/', '_');
const a = 'ff'.repeat(32); // encodes with `_` (a `/` in plain base64)
const b = '0123456789abcdef'.repeat(4);

test('downloadOf: commit objects and delta superblocks are downloads; anything else is not', () => {
  assert.deepEqual(downloadOf(`objects/${b.slice(0, 2)}/${b.slice(2)}.commit`), { commit: b, from: null });
  assert.deepEqual(downloadOf(`deltas/${mb64(a).slice(0, 2)}/${mb64(a).slice(2)}/superblock`), { commit: a, from: null });
  assert.deepEqual(downloadOf(`deltas/${mb64(a).slice(0, 2)}/${mb64(a).slice(2)}-${mb64(b)}/superblock`), { commit: b, from: a });
  for (const p of [
    `objects/${b.slice(0, 2)}/${b.slice(2)}.commitmeta`,
    `objects/${b.slice(0, 2)}/${b.slice(2)}.dirtree`,
    `objects/${b.slice(0, 2)}/${b.slice(2, 40)}.commit`,
    `deltas/${mb64(a).slice(0, 2)}/${mb64(a).slice(2)}/0`,
    `deltas/${mb64(a).slice(0, 2)}/${mb64(a).slice(2)}-/superblock`,
    `deltas/${mb64(a).slice(0, 2)}/x-${mb64(b)}/superblock`,
    `deltas/${mb64(a).slice(0, 2)}/${mb64(a).slice(2, 20)}/superblock`,
    'summary',
  ]) {
    assert.equal(downloadOf(p), null, p);
  }
  assert.equal(appIdOfRef('app/org.a.B/x86_64/stable'), 'org.a.B');
  assert.equal(appIdOfRef('runtime/org.a.B.Locale/x86_64/1'), 'org.a.B.Locale');
  assert.equal(appIdOfRef('ostree-metadata'), null);
  assert.equal(appIdOfRef('appstream/x86_64'), null);
});
