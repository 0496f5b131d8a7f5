import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { deflateRawSync } from 'node:zlib';
import {
  createObjectVerifier,
  InvalidObjectNameError,
  MalformedObjectError,
  ObjectChecksumError,
  ObjectVerificationError,
  objectRelativePath,
  objectVerifierStream,
  parseDeltaPartName,
  parseObjectName,
  verifyObjectFile,
  type ObjectType,
} from './objects.ts';

const hasOstree = spawnSync('ostree', ['--version']).status === 0;
const A = 'a'.repeat(64);

test('parseObjectName accepts the four upload types', () => {
  for (const type of ['commit', 'dirtree', 'dirmeta', 'filez'] as const) {
    assert.deepEqual(parseObjectName(`${A}.${type}`), { checksum: A, type });
  }
  assert.equal(objectRelativePath(A, 'filez'), `objects/aa/${'a'.repeat(62)}.filez`);
});

test('parseObjectName rejects anything else', () => {
  for (const name of [
    '', A, `${A}.`, `${A}.file`, `${A}.commitmeta`, `${A}.tombstone-commit`, `${A}.filez.tmp`, `${A}.FILEZ`,
    `${'A'.repeat(64)}.filez`, `${'a'.repeat(63)}.filez`, `${'a'.repeat(65)}.filez`, `${'g'.repeat(64)}.filez`,
    `../${'a'.repeat(61)}.filez`, `aa/${'a'.repeat(62)}.filez`, `/${A}.filez`, `${A}.filez/`, ` ${A}.filez`,
    `${A}\0.filez`, `${A}.dirtree/../../x`, '..', '.filez',
  ]) {
    assert.throws(() => parseObjectName(name), InvalidObjectNameError, JSON.stringify(name));
  }
});

/** ostree's modified base64 of a hex checksum. */
const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64').replace(/=$/, '').replaceAll('/', '_');

test('parseDeltaPartName accepts flat-manager delta part names', () => {
  const from = createHash('sha256').update('from').digest('hex');
  const to = createHash('sha256').update('to?').digest('hex');
  const [f, t] = [b64(from), b64(to)];
  assert.deepEqual(parseDeltaPartName(`${t}.superblock.delta`), {
    deltaName: t, from: null, to, part: 'superblock', relativePath: `deltas/${t.slice(0, 2)}/${t.slice(2)}/superblock`,
  });
  assert.deepEqual(parseDeltaPartName(`${f}-${t}.12.delta`), {
    deltaName: `${f}-${t}`, from, to, part: 12, relativePath: `deltas/${f.slice(0, 2)}/${f.slice(2)}-${t}/12`,
  });
  const lastChar = t.at(-1)!;
  const nonCanonical = t.slice(0, -1) + (lastChar === 'A' ? 'B' : String.fromCharCode(lastChar.charCodeAt(0) + 1));
  for (const name of [
    `${t}.delta`, `${t}..delta`, `${t}.meta.delta`, `${t}.01.delta`, `${t}.-1.delta`, `${t}.99999999999.delta`,
    `${t}.0.delta.gz`, `${t}.superblock`, `${t.slice(1)}.0.delta`, `${t}A.0.delta`, `${f}-${t}-${t}.0.delta`,
    `${f}_${t}.0.delta`, `${t.slice(0, 10)}/${t.slice(11)}.0.delta`, `${t.replace(/.$/, '=')}.0.delta`,
    `${nonCanonical}.0.delta`, `-${t}.0.delta`, `${A}.0.delta`,
  ]) {
    assert.throws(() => parseDeltaPartName(name), InvalidObjectNameError, name);
  }
});

// ---------------------------------------------------------------------------
// Real objects made by the ostree CLI.

interface RepoObject { name: string; checksum: string; type: ObjectType; path: string; bytes: Buffer }

function ostree(...args: string[]): string {
  return execFileSync('ostree', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Builds a tree covering every shape of content object, commits it, returns every object. */
function makeRepo(): { dir: string; repo: string; objects: RepoObject[]; xattrProblem: string | null; commits: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'fmd-objects-'));
  const tree = join(dir, 'tree');
  const repo = join(dir, 'repo');
  mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
  const text = (n: number) => Buffer.from(Array.from({ length: Math.ceil(n / 40) }, (_, i) => `line ${i} of some compressible text\n`).join('')).subarray(0, n);
  writeFileSync(join(tree, 'empty'), '');
  writeFileSync(join(tree, 'one'), 'x');
  writeFileSync(join(tree, 'small.txt'), text(1000));
  writeFileSync(join(tree, 'medium.txt'), text(200_000));
  writeFileSync(join(tree, 'large.txt'), text(1_600_000));
  writeFileSync(join(tree, 'random.bin'), randomBytes(2 * 1024 * 1024 + 17)); // incompressible
  writeFileSync(join(tree, 'tool'), '#!/bin/sh\necho hi\n');
  chmodSync(join(tree, 'tool'), 0o755);
  writeFileSync(join(tree, 'sub', 'deeper', 'nested'), text(5000));
  symlinkSync('small.txt', join(tree, 'link'));
  // > 255 bytes of header: exercises 2-byte GVariant framing offsets.
  symlinkSync('../'.repeat(100) + 'far/away', join(tree, 'long-link'));
  writeFileSync(join(tree, 'xattr.txt'), 'has xattrs');
  writeFileSync(join(tree, 'big-xattr.txt'), 'has a big xattr');
  // Why the xattrs could not be set (the test fails with it), or null.
  const setfattr = (name: string, value: string, file: string): string | null => {
    const r = spawnSync('setfattr', ['-n', name, '-v', value, join(tree, file)], { encoding: 'utf8' });
    if (r.error) return `setfattr: ${r.error.message} (scripts/install.sh --with-test-deps installs the attr package)`;
    return r.status === 0 ? null : `setfattr -n ${name} failed: ${r.stderr.trim()}`;
  };
  const xattrProblem = setfattr('user.fmd.one', 'first', 'xattr.txt') ?? setfattr('user.fmd.two', 'second', 'xattr.txt') ??
    setfattr('user.fmd.big', 'v'.repeat(600), 'big-xattr.txt');
  ostree('init', '--mode=archive-z2', `--repo=${repo}`);
  const first = ostree('commit', `--repo=${repo}`, '--branch=x', `--tree=dir=${tree}`).trim();
  writeFileSync(join(tree, 'one'), 'y');
  const second = ostree('commit', `--repo=${repo}`, '--branch=x', `--tree=dir=${tree}`).trim();
  const objects: RepoObject[] = [];
  for (const d of readdirSync(join(repo, 'objects'))) {
    for (const f of readdirSync(join(repo, 'objects', d))) {
      const { checksum, type } = parseObjectName(d + f);
      const path = join(repo, 'objects', d, f);
      objects.push({ name: d + f, checksum, type, path, bytes: readFileSync(path) });
    }
  }
  return { dir, repo, objects, xattrProblem, commits: [first, second] };
}

const fixture = hasOstree ? makeRepo() : null;
process.on('exit', () => fixture && rmSync(fixture.dir, { recursive: true, force: true }));
const skip = hasOstree ? false : 'ostree CLI not installed';

/** Feeds `bytes` in chunks whose sizes come from `size()`. */
async function verifyChunked(bytes: Buffer, type: ObjectType, checksum: string, size: () => number): Promise<void> {
  const v = createObjectVerifier(type, checksum);
  for (let p = 0; p < bytes.length;) {
    const n = Math.max(1, size());
    await v.update(bytes.subarray(p, p + n));
    p += n;
  }
  await v.finish();
}

const verify = (bytes: Buffer, type: ObjectType, checksum: string) => verifyChunked(bytes, type, checksum, () => 64 * 1024);

function objectFor(path: string): RepoObject {
  const line = ostree('ls', `--repo=${fixture!.repo}`, '-C', 'x', path).trim();
  const checksum = line.split(/\s+/).find((w) => /^[0-9a-f]{64}$/.test(w))!;
  const o = fixture!.objects.find((x) => x.checksum === checksum && x.type === 'filez');
  assert.ok(o, `object for ${path}`);
  return o;
}

test('every object ostree made verifies, from disk and in chunks of 1, 7, 64 KiB and random sizes', { skip }, async () => {
  const { objects } = fixture!;
  const types = new Set(objects.map((o) => o.type));
  assert.deepEqual([...types].sort(), ['commit', 'dirmeta', 'dirtree', 'filez']);
  for (const o of objects) {
    await verifyObjectFile(o.path, o.type, o.checksum);
    await verify(o.bytes, o.type, o.checksum);
    await verifyChunked(o.bytes, o.type, o.checksum, () => 1 + Math.floor(Math.random() * 100_000));
    // Byte-at-a-time is slow through zlib: keep it to the small objects.
    if (o.bytes.length <= 16 * 1024) await verifyChunked(o.bytes, o.type, o.checksum, () => 1);
    if (o.bytes.length <= 256 * 1024) await verifyChunked(o.bytes, o.type, o.checksum, () => 7);
  }
  await pipeline(createReadStream(objects[0]!.path), objectVerifierStream(objects[0]!.type, objects[0]!.checksum));
});

test('xattrs, symlinks and executables reach the content objects', { skip }, async () => {
  const { objects, xattrProblem } = fixture!;
  const link = objectFor('/long-link');
  assert.ok(link.bytes.includes(Buffer.from('../../far/away')), 'symlink target is in the header');
  assert.ok(link.bytes.readUInt32BE(0) > 255, 'long symlink header needs 2-byte offsets');
  const tool = objectFor('/tool');
  assert.equal(tool.bytes.readUInt32BE(8 + 16) & 0o777, 0o755);
  assert.equal(xattrProblem, null, 'the xattr objects must be covered');
  // ostree keeps user.* xattrs in archive-z2 content headers.
  const withXattrs = objectFor('/xattr.txt');
  assert.ok(withXattrs.bytes.includes(Buffer.from('user.fmd.two\0')), 'ostree dropped the xattrs');
  assert.ok(objectFor('/big-xattr.txt').bytes.includes(Buffer.from('v'.repeat(600))));
  assert.ok(objects.length > 15);
});

// ---------------------------------------------------------------------------
// Corruption.

async function rejects(bytes: Buffer, type: ObjectType, checksum: string, errorClass: typeof ObjectVerificationError, pattern: RegExp) {
  for (const size of [() => 64 * 1024, () => 7, () => 1 + Math.floor(Math.random() * 5000)]) {
    if (size() === 7 && bytes.length > 300_000) continue;
    const err = await verifyChunked(bytes, type, checksum, size).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof errorClass, `expected ${errorClass.name}, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.equal(err.type, type);
    assert.equal(err.expected, checksum);
  }
}

const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at]! ^= 0x01;
  return c;
};

test('a flipped byte in compressed content is caught', { skip }, async () => {
  for (const file of ['/large.txt', '/random.bin', '/small.txt']) {
    const o = objectFor(file);
    const headerEnd = 8 + o.bytes.readUInt32BE(0);
    const at = headerEnd + Math.floor((o.bytes.length - headerEnd) / 2);
    await rejects(flip(o.bytes, at), 'filez', o.checksum, ObjectVerificationError, /checksums to|malformed/);
  }
  // Random data is stored, not compressed: a flip there is a pure checksum mismatch.
  const r = objectFor('/random.bin');
  const err = await verify(flip(r.bytes, r.bytes.length - 1000), 'filez', r.checksum).catch((e: unknown) => e);
  assert.ok(err instanceof ObjectChecksumError);
  assert.equal(err.expected, r.checksum);
  assert.match(err.actual, /^[0-9a-f]{64}$/);
  assert.notEqual(err.actual, r.checksum);
});

test('a flipped byte in the content header is caught', { skip }, async () => {
  const o = objectFor('/small.txt');
  const headerEnd = 8 + o.bytes.readUInt32BE(0);
  for (let at = 0; at < headerEnd; at++) {
    await rejects(flip(o.bytes, at), 'filez', o.checksum, ObjectVerificationError, /./);
  }
  // Meaningful fields: uid, mode -> wrong checksum; size -> size mismatch; length -> malformed.
  await rejects(flip(o.bytes, 8 + 11), 'filez', o.checksum, ObjectChecksumError, /checksums to/);
  await rejects(flip(o.bytes, 8 + 19), 'filez', o.checksum, ObjectChecksumError, /checksums to/);
  await rejects(flip(o.bytes, 8 + 7), 'filez', o.checksum, MalformedObjectError, /header says/);
  await rejects(flip(o.bytes, 3), 'filez', o.checksum, MalformedObjectError, /header|truncated/);
  await rejects(flip(o.bytes, 5), 'filez', o.checksum, MalformedObjectError, /padding/);
});

test('truncation is caught', { skip }, async () => {
  for (const file of ['/large.txt', '/small.txt', '/empty', '/long-link']) {
    const o = objectFor(file);
    const headerEnd = 8 + o.bytes.readUInt32BE(0);
    const cuts = [o.bytes.length - 1, headerEnd, headerEnd - 1, 8, 3, 0].filter((n) => n < o.bytes.length);
    for (const cut of cuts) {
      if (file === '/long-link' && cut === headerEnd) continue; // a symlink object ends at its header
      await rejects(o.bytes.subarray(0, cut), 'filez', o.checksum, MalformedObjectError, /truncated|unexpected end|header/);
    }
  }
  for (const o of fixture!.objects.filter((x) => x.type !== 'filez').slice(0, 6)) {
    await rejects(o.bytes.subarray(0, o.bytes.length - 1), o.type, o.checksum, ObjectChecksumError, /checksums to/);
  }
});

test('trailing garbage is caught', { skip }, async () => {
  const junk = Buffer.from('trailing garbage');
  for (const file of ['/large.txt', '/small.txt', '/empty', '/random.bin']) {
    const o = objectFor(file);
    await rejects(Buffer.concat([o.bytes, junk]), 'filez', o.checksum, MalformedObjectError, /trailing data/);
    await rejects(Buffer.concat([o.bytes, Buffer.alloc(1)]), 'filez', o.checksum, MalformedObjectError, /trailing data/);
  }
  const link = objectFor('/link');
  await rejects(Buffer.concat([link.bytes, junk]), 'filez', link.checksum, MalformedObjectError, /after a symlink header/);
  for (const o of fixture!.objects.filter((x) => x.type !== 'filez')) {
    await rejects(Buffer.concat([o.bytes, junk]), o.type, o.checksum, ObjectChecksumError, /checksums to/);
  }
});

test('an object under another name is caught', { skip }, async () => {
  const [a, b] = fixture!.objects.filter((o) => o.type === 'filez');
  await rejects(a!.bytes, 'filez', b!.checksum, ObjectChecksumError, new RegExp(a!.checksum));
  const [m, n] = fixture!.objects.filter((o) => o.type === 'dirtree');
  await rejects(m!.bytes, 'dirtree', n!.checksum, ObjectChecksumError, new RegExp(m!.checksum));
});

test('an object renamed to another type is caught', { skip }, async () => {
  const byType = (type: ObjectType) => fixture!.objects.filter((o) => o.type === type);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  // Metadata names are plain SHA-256, so only the structure gives a renamed one away.
  for (const from of ['commit', 'dirtree', 'dirmeta'] as const) {
    for (const to of ['commit', 'dirtree', 'dirmeta'] as const) {
      if (from === to) continue;
      for (const o of byType(from)) {
        await rejects(o.bytes, to, o.checksum, MalformedObjectError, new RegExp(`not a valid ${to}|not a directory`));
      }
    }
  }
  for (const o of byType('filez').slice(0, 5)) {
    for (const to of ['commit', 'dirtree', 'dirmeta'] as const) {
      await rejects(o.bytes, to, sha(o.bytes), MalformedObjectError, new RegExp(`not a valid ${to}|not a directory`));
    }
  }
  for (const o of [...byType('commit'), ...byType('dirtree'), ...byType('dirmeta')]) {
    await rejects(o.bytes, 'filez', o.checksum, ObjectVerificationError, /./);
  }
});

/** A content object with a hand-made header: `(tuuuusa(ayay))` with no xattrs. */
function contentObject(opts: { size: number; mode?: number; rdev?: number; target?: string; body?: Buffer }): Buffer {
  const target = Buffer.from((opts.target ?? '') + '\0');
  const body = 8 + 16 + target.length + 0; // empty a(ayay)
  const header = Buffer.alloc(body + 1);
  header.writeBigUInt64BE(BigInt(opts.size), 0);
  header.writeUInt32BE(opts.mode ?? 0o100644, 16);
  header.writeUInt32BE(opts.rdev ?? 0, 20);
  target.copy(header, 24);
  header[body] = 24 + target.length;
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(header.length, 0);
  return Buffer.concat([prefix, header, opts.body ?? Buffer.alloc(0)]);
}

test('zip bombs and size lies are caught early', { skip }, async () => {
  // 64 MiB of zeros squeezed into ~64 KiB, declared as 10 bytes.
  const bomb = contentObject({ size: 10, body: deflateRawSync(Buffer.alloc(64 * 1024 * 1024)) });
  await rejects(bomb, 'filez', A, MalformedObjectError, /beyond the declared 10 bytes/);
  const short = contentObject({ size: 1000, body: deflateRawSync(Buffer.from('only this')) });
  await rejects(short, 'filez', A, MalformedObjectError, /content is 9 bytes, header says 1000/);
  for (const [opts, pattern] of [
    [{ size: 0, rdev: 1 }, /rdev/],
    [{ size: 0, mode: 0o040755 }, /neither a regular file nor a symlink/],
    [{ size: 0, mode: 0o20100644 }, /neither|invalid bits/],
    [{ size: 0, target: 'x' }, /regular file with a symlink target/],
    [{ size: 0, mode: 0o120777 }, /symlink with an empty target/],
  ] as const) {
    await rejects(contentObject({ ...opts, body: deflateRawSync(Buffer.alloc(0)) }), 'filez', A, MalformedObjectError, pattern);
  }
  // A hand-made object that is right verifies: proves the header checksum framing.
  const good = contentObject({ size: 5, body: deflateRawSync(Buffer.from('hello')) });
  // What ostree hashes: [u32 18][4 zero bytes][uid gid mode rdev]["\0" target][offset 17: end of target] + content.
  const unsized = Buffer.concat([Buffer.from([0, 0, 0, 18, 0, 0, 0, 0]), good.subarray(16, 32), Buffer.from([0, 17]), Buffer.from('hello')]);
  await verify(good, 'filez', createHash('sha256').update(unsized).digest('hex'));
});

test('static delta part names ostree writes parse back to their paths', { skip }, () => {
  const { repo, commits } = fixture!;
  ostree('static-delta', 'generate', `--repo=${repo}`, `--from=${commits[0]}`, `--to=${commits[1]}`);
  ostree('static-delta', 'generate', `--repo=${repo}`, '--empty', `--to=${commits[1]}`);
  const found: string[] = [];
  for (const prefix of readdirSync(join(repo, 'deltas'))) {
    for (const rest of readdirSync(join(repo, 'deltas', prefix))) {
      for (const part of readdirSync(join(repo, 'deltas', prefix, rest))) {
        const parsed = parseDeltaPartName(`${prefix}${rest}.${part}.delta`);
        assert.equal(parsed.relativePath, `deltas/${prefix}/${rest}/${part}`);
        assert.equal(parsed.to, commits[1]);
        found.push(`${parsed.from === null ? 'empty' : 'from'}:${part}`);
      }
    }
  }
  assert.deepEqual(found.sort(), ['empty:0', 'empty:superblock', 'from:0', 'from:superblock']);
});
