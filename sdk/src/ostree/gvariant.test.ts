import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GVariantError, parse, parseVarDict, serialize, serializeVarDict, unwrap, variant } from './gvariant.ts';

// Deterministic stand-ins for signatures: n byte strings of `size` bytes.
function sigs(n: number, size: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) & 0xff));
}

function gpgsigsFile(s: Uint8Array[]): Uint8Array {
  return serializeVarDict(new Map([['ostree.gpgsigs', variant('aay', s)]]));
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// SHA-256 of what GLib 2.74 (PyGObject: GLib.Variant('a{sv}', {'ostree.gpgsigs':
// GLib.Variant('aay', sigs(n, size))}).get_data_as_bytes()) produced for the same input.
const GLIB_REFERENCE: Array<{ name: string; n: number; size: number; length: number; sha256: string }> = [
  { name: 'one signature (1-byte offsets)', n: 1, size: 119, length: 142, sha256: 'b057b63775e8756a3d05d8c35664688014e295f5f5d2fab1d2c4c03b3630a97a' },
  { name: 'two signatures (1-byte offsets)', n: 2, size: 119, length: 264, sha256: '5a1005cd56e3f713285f34d6569bf2d1eb9697328a9929ebc525ada018b7dfe2' },
  { name: 'three signatures (2-byte offsets)', n: 3, size: 100, length: 330, sha256: 'b17c8617f65e44af41ba40a6abbd46b33146839bf328fde567301fa08d8e0c63' },
  { name: '600 signatures, >64 KiB (4-byte offsets)', n: 600, size: 119, length: 73828, sha256: '0b14431f624442b4c5658eb3c2fafd6a00b27afe7ab135e2cc4a95b48f62e44f' },
  { name: 'three 70000-byte signatures (4-byte offsets)', n: 3, size: 70000, length: 210040, sha256: '1456cdc62574e9d6f1dfc5866c9a2b3495eac336f4ca5af7aeccff085f009dbb' },
];

for (const ref of GLIB_REFERENCE) {
  test(`ostree.gpgsigs file is byte-identical to GLib: ${ref.name}`, () => {
    const input = sigs(ref.n, ref.size);
    const bytes = gpgsigsFile(input);
    assert.equal(bytes.length, ref.length);
    assert.equal(sha(bytes), ref.sha256);
    const back = unwrap(parseVarDict(bytes).get('ostree.gpgsigs')!, 'aay') as Uint8Array[];
    assert.deepEqual(back.map((b) => Buffer.from(b)), input.map((b) => Buffer.from(b)));
  });
}

// A GLib-made a{sv} (GVariantBuilder, so in insertion order) with several value types:
// xa.foo: s, ostree.gpgsigs: aay, t: t, b: b, as: as, st: (tsay).
const GLIB_MIXED_HEX =
  '78612e666f6f000068656c6c6f00007307000000000000006f73747265652e67706773696773000000070e151c232a31' +
  '383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950571f262d343b42' +
  '4950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f7632640061' +
  '61790f00000000007400000000000000cb04fb711f010000007402000000000062000000000000000100620200000000' +
  '617300000000000061006263000002050600617303000000737400000000000005000000000000007800797a0a002874' +
  '73617929031193abbcd5f5';

test('a GLib dict of mixed value types parses, keeps its order and re-serializes byte-identically', () => {
  const glib = Buffer.from(GLIB_MIXED_HEX, 'hex');
  const dict = parseVarDict(glib);
  assert.deepEqual([...dict.keys()], ['xa.foo', 'ostree.gpgsigs', 't', 'b', 'as', 'st']);
  assert.equal(unwrap(dict.get('xa.foo')!, 's'), 'hello');
  assert.equal((unwrap(dict.get('ostree.gpgsigs')!, 'aay') as Uint8Array[]).length, 2);
  assert.equal(unwrap(dict.get('t')!, 't'), 1234567890123n);
  assert.equal(unwrap(dict.get('b')!, 'b'), true);
  assert.deepEqual(unwrap(dict.get('as')!, 'as'), ['a', 'bc', '']);
  const st = unwrap(dict.get('st')!, '(tsay)') as [bigint, string, Uint8Array];
  assert.deepEqual([st[0], st[1], Buffer.from(st[2]).toString()], [5n, 'x', 'yz']);
  // Unknown values stay raw bytes: writing the dict back reproduces GLib's bytes.
  assert.deepEqual(Buffer.from(serializeVarDict(dict)), glib);
  // And building the same dict from JS values gives the same bytes.
  const built = new Map([
    ['xa.foo', variant('s', 'hello')],
    ['ostree.gpgsigs', variant('aay', sigs(2, 50))],
    ['t', variant('t', 1234567890123n)],
    ['b', variant('b', true)],
    ['as', variant('as', ['a', 'bc', ''])],
    ['st', variant('(tsay)', [5n, 'x', Uint8Array.of(0x79, 0x7a)])],
  ]);
  assert.deepEqual(Buffer.from(serializeVarDict(built)), glib);
});

test('empty and malformed input', () => {
  assert.equal(serializeVarDict(new Map()).length, 0);
  assert.equal(parseVarDict(new Uint8Array(0)).size, 0);
  assert.throws(() => parseVarDict(Uint8Array.of(1, 2, 3, 250)), GVariantError);
  assert.throws(() => parse('s', Uint8Array.of(0x61)), GVariantError);
  assert.throws(() => serialize('a{sv', []), GVariantError);
});

// Live comparison with GLib across the 1/2-byte and 2/4-byte framing boundaries.
const PY = '/usr/bin/python3';
const HAVE_GI =
  existsSync(PY) &&
  (await promisify(execFile)(PY, ['-c', 'from gi.repository import GLib']).then(
    () => true,
    () => false,
  ));

test('matches GLib around framing-offset boundaries', { skip: HAVE_GI ? false : 'python3-gi not installed' }, async () => {
  const cases: Array<[number, number]> = [];
  for (let size = 100; size <= 130; size++) cases.push([2, size]); // around 255 total bytes
  for (let size = 220; size <= 250; size++) cases.push([1, size]);
  for (let size = 32720; size <= 32780; size += 15) cases.push([2, size]); // around 65535
  for (let size = 65490; size <= 65530; size += 10) cases.push([1, size]);
  const script = `
import sys, json
from gi.repository import GLib
def sigs(n, size):
    return [bytes(((i*31+j*7) & 0xff) for j in range(size)) for i in range(n)]
for n, size in json.load(sys.stdin):
    v = GLib.Variant('a{sv}', {'ostree.gpgsigs': GLib.Variant('aay', sigs(n, size))})
    print(__import__('hashlib').sha256(v.get_data_as_bytes().get_data()).hexdigest())
`;
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(PY, ['-c', script], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out)));
    child.stdin!.end(JSON.stringify(cases));
  });
  const expected = stdout.trim().split('\n');
  assert.equal(expected.length, cases.length);
  cases.forEach(([n, size], i) => {
    assert.equal(sha(gpgsigsFile(sigs(n, size))), expected[i], `n=${n} size=${size}`);
  });
});
