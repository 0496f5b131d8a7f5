// Benchmark: verifying uploaded OSTree objects (server/src/ostree/objects.ts).
// Generates ~200 MB in ~5,000 files (compressible text-like data and random
// bytes), commits them into a temp archive-z2 repo with the ostree CLI, then
// times verifying every loose object from disk, beside sha256sum over the same
// object files. The page cache is warmed first, so this measures CPU, not disk.
//
//   from the repository root: npm exec -- node bench/verify-objects.ts [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createObjectVerifier, parseObjectName, verifyObjectFile, type ObjectType } from '../server/src/ostree/objects.ts';

const FILES = 5000;
const LARGE_FILES = 10; // 2-4 MiB each, on top of the many small ones
const RANDOM_SHARE = 0.3; // share of files with incompressible content

const dir = mkdtempSync(join(tmpdir(), 'fmd-bench-objects-'));
const keep = process.argv.includes('--keep');
process.on('exit', () => (keep ? console.log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })));

// Compressible content: slices of the system's own binaries, libraries and
// scripts, which deflate like a Flatpak app's files do (~30%). Inflating such
// data costs far more per byte than random data, which zlib merely copies.
function makePool(bytes: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  for (const d of ['/usr/bin', '/usr/lib/x86_64-linux-gnu', '/usr/lib', '/usr/share/perl5', '/usr/share/doc']) {
    let names: string[] = [];
    try { names = readdirSync(d); } catch { continue; }
    for (const name of names) {
      if (n >= bytes) break;
      try {
        const st = statSync(join(d, name));
        if (!st.isFile() || st.size < 4096 || st.size > 4 * 1024 * 1024) continue;
        const b = readFileSync(join(d, name));
        parts.push(b);
        n += b.length;
      } catch { /* unreadable: skip */ }
    }
  }
  if (n < 1024 * 1024) throw new Error('not enough system files to build compressible content');
  return Buffer.concat(parts).subarray(0, bytes);
}

function sizes(): number[] {
  // Log-uniform up to 500 KB: many small files, a long tail, like an app tree.
  const small = Array.from({ length: FILES - LARGE_FILES }, () => Math.floor(Math.exp(Math.random() * Math.log(500_000))) - 1);
  const large = Array.from({ length: LARGE_FILES }, () => 2 * 1024 * 1024 + Math.floor(Math.random() * 2 * 1024 * 1024));
  return [...small, ...large];
}

function generate(tree: string): { files: number; bytes: number } {
  const pool = makePool(32 * 1024 * 1024);
  let bytes = 0;
  sizes().forEach((size, i) => {
    const sub = join(tree, `d${i % 50}`);
    mkdirSync(sub, { recursive: true });
    let content: Buffer;
    if (Math.random() < RANDOM_SHARE) content = randomBytes(size);
    else {
      const start = Math.floor(Math.random() * Math.max(1, pool.length - size));
      content = pool.subarray(start, start + size);
    }
    writeFileSync(join(sub, `f${i}`), content);
    bytes += size;
  });
  return { files: FILES, bytes };
}

interface Obj { path: string; type: ObjectType; checksum: string; size: number }

function listObjects(repo: string): Obj[] {
  const out: Obj[] = [];
  for (const d of readdirSync(join(repo, 'objects'))) {
    for (const f of readdirSync(join(repo, 'objects', d))) {
      const { checksum, type } = parseObjectName(d + f);
      const path = join(repo, 'objects', d, f);
      out.push({ path, type, checksum, size: statSync(path).size });
    }
  }
  return out;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const mb = (n: number) => (n / 1e6).toFixed(1);
const row = (label: string, secs: number, bytes: number, count: number) =>
  console.log(`${label.padEnd(34)} ${secs.toFixed(2).padStart(6)} s ${(bytes / 1e6 / secs).toFixed(0).padStart(6)} MB/s ${(count / secs).toFixed(0).padStart(7)} objects/s`);

const tree = join(dir, 'tree');
const repo = join(dir, 'repo');
let generated = { files: 0, bytes: 0 };
const genSecs = time(() => { generated = generate(tree); });
console.log(`node ${process.version}, ${availableParallelism()} CPUs; generated ${generated.files} files, ${mb(generated.bytes)} MB in ${genSecs.toFixed(1)} s`);

execFileSync('ostree', ['init', '--mode=archive-z2', `--repo=${repo}`]);
const commitSecs = time(() => {
  execFileSync('ostree', ['commit', `--repo=${repo}`, '--branch=bench', `--tree=dir=${tree}`], { stdio: 'ignore' });
});
const objects = listObjects(repo);
const objectBytes = objects.reduce((n, o) => n + o.size, 0);
const counts = Object.groupBy(objects, (o) => o.type);
console.log(`ostree commit: ${commitSecs.toFixed(1)} s; ${objects.length} objects (${Object.entries(counts).map(([t, l]) => `${l!.length} ${t}`).join(', ')}), ${mb(objectBytes)} MB of object bytes (content compresses to ${(100 * objectBytes / generated.bytes).toFixed(0)}%)`);

// Warm the page cache so every run below reads from memory.
for (const o of objects) readFileSync(o.path);

const paths = objects.map((o) => o.path).join('\0');
const sha256sum = (parallel: number) => {
  const r = spawnSync('xargs', ['-0', '-P', String(parallel), '-n', '500', 'sha256sum'], { input: paths, stdio: ['pipe', 'ignore', 'inherit'], maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error('sha256sum failed');
};

console.log(`\nover ${objects.length} objects, ${mb(objectBytes)} MB (MB/s of object bytes as stored):`);
row('sha256sum, 1 process', time(() => sha256sum(1)), objectBytes, objects.length);
row('sha256sum, 2 processes', time(() => sha256sum(2)), objectBytes, objects.length);
row('node sha256 of file bytes only', await timeAsync(() => pool(objects, 1, async (o) => {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(o.path, { highWaterMark: 256 * 1024 })) h.update(chunk as Buffer);
  h.digest();
})), objectBytes, objects.length);
for (const concurrency of [1, 2, 4, 8]) {
  const secs = await timeAsync(() => pool(objects, concurrency, (o) => verifyObjectFile(o.path, o.type, o.checksum)));
  row(`verifyObjectFile, ${concurrency} at a time`, secs, objectBytes, objects.length);
}

// As the upload endpoint sees them: bytes already in memory, fed in 64 KiB chunks.
const inMemory = objects.map((o) => ({ ...o, bytes: readFileSync(o.path) }));
for (const concurrency of [1, 2, 4]) {
  const secs = await timeAsync(() => pool(inMemory, concurrency, async (o) => {
    const v = createObjectVerifier(o.type, o.checksum);
    for (let p = 0; p < o.bytes.length; p += 64 * 1024) await v.update(o.bytes.subarray(p, p + 64 * 1024));
    await v.finish();
  }));
  row(`verifier on memory, ${concurrency} at a time`, secs, objectBytes, objects.length);
}
