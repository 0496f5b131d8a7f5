import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultUploadLimits, receiveUpload, storeUpload, type UploadPart } from './upload-store.ts';
import { UploadWorkers } from './upload-workers.ts';
import { InvalidInputError } from '../errors.ts';

const hasOstree = spawnSync('ostree', ['--version']).status === 0;
const skip = hasOstree ? false : 'ostree CLI not installed';

/** Objects ostree made: a small text file and a large incompressible one (streamed, not held in memory). */
function makeObjects() {
  const dir = mkdtempSync(join(tmpdir(), 'fmd-upload-store-'));
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(join(tree, 'small'), 'hello '.repeat(1000));
  writeFileSync(join(tree, 'large'), randomBytes(1024 * 1024));
  const repo = join(dir, 'repo');
  execFileSync('ostree', ['init', '--mode=archive-z2', `--repo=${repo}`]);
  execFileSync('ostree', ['commit', `--repo=${repo}`, '--branch=x', `--tree=dir=${tree}`]);
  const objects = readdirSync(join(repo, 'objects')).flatMap((d) =>
    readdirSync(join(repo, 'objects', d)).map((f) => ({ name: d + f, bytes: readFileSync(join(repo, 'objects', d, f)) })),
  );
  const filez = objects.filter((o) => o.name.endsWith('.filez')).sort((a, b) => a.bytes.length - b.bytes.length);
  return { dir, objects, small: filez[0]!, large: filez[filez.length - 1]! };
}

const fixture = hasOstree ? makeObjects() : null;
process.on('exit', () => fixture && rmSync(fixture.dir, { recursive: true, force: true }));

/** A fresh upload repo layout (only what storeUpload touches). */
function uploadRepo(): string {
  const dir = join(fixture!.dir, `upload-${randomBytes(4).toString('hex')}`);
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  return dir;
}

/** Every file under the repo but the empty tmp/ dir. */
const files = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();

/** A part whose body arrives in 64 KiB reads; with `cutAt`, the connection breaks after that many bytes. */
function part(filename: string, bytes: Buffer, cutAt?: number): UploadPart {
  const sent = bytes.subarray(0, cutAt ?? bytes.length);
  return {
    filename,
    body: (async function* () {
      for (let p = 0; p < sent.length; p += 64 * 1024) yield sent.subarray(p, p + 64 * 1024);
      if (cutAt !== undefined) throw new Error('connection reset');
    })(),
  };
}

const rejected = (err: unknown) => err instanceof InvalidInputError;

test('objects land under objects/ with their size; the same object twice at once is one good file', { skip }, async () => {
  const dir = uploadRepo();
  const made = new Set<string>();
  for (const o of fixture!.objects) assert.equal(await storeUpload(dir, part(o.name, o.bytes), defaultUploadLimits, made), o.bytes.length);
  const { large } = fixture!;
  await Promise.all([storeUpload(dir, part(large.name, large.bytes), defaultUploadLimits), storeUpload(dir, part(large.name, large.bytes), defaultUploadLimits)]);
  const expected = fixture!.objects.map((o) => `objects/${o.name.slice(0, 2)}/${o.name.slice(2)}`).sort();
  assert.deepEqual(files(dir), expected);
  for (const o of fixture!.objects) assert.ok(readFileSync(join(dir, 'objects', o.name.slice(0, 2), o.name.slice(2))).equals(o.bytes));
});

test('corrupt, misnamed and retyped objects and path tricks leave nothing behind', { skip }, async () => {
  const dir = uploadRepo();
  for (const o of [fixture!.small, fixture!.large]) {
    const corrupt = Buffer.from(o.bytes);
    corrupt[corrupt.length - 1]! ^= 0xff;
    await assert.rejects(storeUpload(dir, part(o.name, corrupt), defaultUploadLimits), rejected);
    const other = o === fixture!.small ? fixture!.large : fixture!.small;
    await assert.rejects(storeUpload(dir, part(other.name, o.bytes), defaultUploadLimits), rejected);
    await assert.rejects(storeUpload(dir, part(o.name.replace('.filez', '.dirtree'), o.bytes), defaultUploadLimits), rejected);
    await assert.rejects(storeUpload(dir, part(`../../${o.name}`, o.bytes), defaultUploadLimits), rejected);
    await assert.rejects(storeUpload(dir, part(`${o.name.slice(0, 2)}/${o.name.slice(2)}`, o.bytes), defaultUploadLimits), rejected);
  }
  await assert.rejects(storeUpload(dir, part(fixture!.large.name, fixture!.large.bytes), { ...defaultUploadLimits, maxObjectBytes: 100_000 }), rejected);
  assert.deepEqual(files(dir), []);
});

test('a connection broken off mid-object leaves no partial object and no temp file', { skip }, async () => {
  const dir = uploadRepo();
  // The small object breaks while held in memory, the large one while streaming to its temp file.
  const { small, large } = fixture!;
  for (const [o, at] of [[small, small.bytes.length - 1], [large, 100_000], [large, 700 * 1024], [large, large.bytes.length - 1]] as const) {
    await assert.rejects(storeUpload(dir, part(o.name, o.bytes, at), defaultUploadLimits), /connection reset/);
  }
  assert.deepEqual(files(dir), []);
});

test('upload workers verify and write objects side by side through their shared ring; bad ones are refused and leave nothing', { skip }, async () => {
  // A ring of 4 KiB: the small objects wrap around it many times, larger ones (over 512 bytes) travel in buffers of their own.
  const workers = new UploadWorkers({ threads: 2, ringBytes: 4096 });
  try {
    const small = fixture!.objects.filter((o) => o.bytes.length < 512 * 1024);
    const corrupt = Buffer.from(fixture!.small.bytes);
    corrupt[corrupt.length - 1]! ^= 0xff;
    const good: string[] = [];
    const bad: string[] = [];
    const stored: Promise<unknown>[] = [];
    for (let round = 0; round < 100; round++) {
      const dir = uploadRepo();
      for (const o of small) {
        const { stored: done } = await receiveUpload(dir, part(o.name, o.bytes), defaultUploadLimits, { store: (job) => workers.store(job) });
        stored.push(done);
        good.push(join(dir, 'objects', o.name.slice(0, 2), o.name.slice(2)));
      }
      const { stored: refused } = await receiveUpload(dir, part(fixture!.small.name, round % 2 ? corrupt : fixture!.large.bytes.subarray(0, 1000)), defaultUploadLimits, { store: (job) => workers.store(job) });
      bad.push(dir);
      stored.push(assert.rejects(refused, rejected));
      if (round % 8 === 7) workers.flush();
    }
    workers.flush();
    await Promise.all(stored);
    // Every good object is in place with its own bytes (none overwritten by a later one in the ring).
    for (const [i, file] of good.entries()) assert.ok(readFileSync(file).equals(small[i % small.length]!.bytes), file);
    // The refused ones: not in place (their name is also among the good ones, so each repo holds exactly the good set) and no temp file.
    for (const dir of bad) assert.deepEqual(files(dir), small.map((o) => `objects/${o.name.slice(0, 2)}/${o.name.slice(2)}`).sort());
  } finally {
    await workers.close();
  }
});
