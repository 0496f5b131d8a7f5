// Issue 4 bench: serving repo objects. GET /repo/<name>/objects/... at 32 connections from a
// real fmd process, beside nginx (Debian's nginx-light) serving the same directory at the same
// paths in the same run (target: fmd >= 50% of nginx). The repo holds ~2,000 files committed
// with ostree (mostly small, some large, like a Flatpak app), so the objects are real.
//
//   apt-get install nginx-light   # once
//   from the repository root: npm exec -- node bench/serve-objects.ts [seconds=10]
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { startFmd } from './support/fmd-process.ts';

const seconds = Number(process.argv[2] ?? 10);
const CONNECTIONS = 32;
const FILES = 2000;

const work = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-serve-'));
const dataDir = path.join(work, 'data');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Sizes like a Flatpak app's files: mostly small, a tail of large ones. Half text-like, half random. */
function makeTree(dir: string): number {
  let total = 0;
  const words = 'flatpak ostree repo summary commit delta object runtime sdk locale icon metadata '.repeat(64);
  for (let i = 0; i < FILES; i++) {
    const r = Math.random();
    const size = r < 0.7 ? 512 + Math.floor(Math.random() * 16 * 1024) : r < 0.95 ? 16 * 1024 + Math.floor(Math.random() * 240 * 1024) : 256 * 1024 + Math.floor(Math.random() * 1792 * 1024);
    const sub = path.join(dir, `d${i % 40}`);
    mkdirSync(sub, { recursive: true });
    const data = i % 2 ? randomBytes(size) : Buffer.from(words.repeat(Math.ceil(size / words.length)).slice(0, size) + i);
    writeFileSync(path.join(sub, `f${i}`), data);
    total += size;
  }
  return total;
}

function objectPaths(repo: string): Array<{ path: string; size: number }> {
  const out: Array<{ path: string; size: number }> = [];
  const objects = path.join(repo, 'objects');
  for (const d of readdirSync(objects)) {
    for (const f of readdirSync(path.join(objects, d))) out.push({ path: `objects/${d}/${f}`, size: statSync(path.join(objects, d, f)).size });
  }
  return out;
}

async function measure(name: string, origin: string, paths: string[]) {
  const requests = paths.map((p) => ({ method: 'GET' as const, path: p }));
  // Check once: a benchmark of 404s is worthless.
  const check = await fetch(`${origin}${paths[0]}`);
  if (check.status !== 200) throw new Error(`${name}: ${paths[0]} answered ${check.status}`);
  await check.arrayBuffer();
  await autocannon({ url: origin, connections: CONNECTIONS, duration: 2, requests });
  const r = await autocannon({ url: origin, connections: CONNECTIONS, duration: seconds, requests });
  if (r.non2xx || r.errors) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const row = {
    name,
    objectsPerSec: Math.round(r.requests.average),
    mbPerSec: r.throughput.average / 1e6,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
  };
  console.log(
    `${name.padEnd(30)} ${String(row.objectsPerSec).padStart(6)} objects/s  ${row.mbPerSec.toFixed(1).padStart(7)} MB/s   p50 ${row.p50ms} ms   p99 ${row.p99ms} ms`,
  );
  return row;
}

async function startNginx(root: string, workers: number | 'auto') {
  const port = await freePort();
  const dir = path.join(work, `nginx-${workers}`);
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  // The production config in miniature: the same /repo/<name>/ paths, straight from the repos dir.
  // As root nginx drops its workers to nobody, who cannot read a private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  const conf = `
${user}
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on; tcp_nopush on; keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${port};
    location ~ ^/repo/([A-Za-z0-9_-]+)/objects/ { root ${root}/..; rewrite ^/repo/(.*)$ /repos/$1 break; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}`;
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(origin);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    origin,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
    },
  };
}

mkdirSync(dataDir, { recursive: true });
const fmd = await startFmd({ FMD_DATA_DIR: dataDir });
try {
  const res = await fetch(`${fmd.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${fmd.token}` },
    body: JSON.stringify({ query: 'mutation { createRepo(input: { name: "bench", collectionId: "org.fmd.Bench", deltaSettings: { generate: false } }) { __typename ... on Error { message } } }' }),
  });
  const created = (await res.json()) as { data?: { createRepo: { __typename: string } } };
  if (created.data?.createRepo.__typename !== 'RepoPayload') throw new Error(JSON.stringify(created));
  const repo = path.join(dataDir, 'repos', 'bench');
  const tree = path.join(work, 'tree');
  const total = makeTree(tree);
  execFileSync('ostree', ['commit', `--repo=${repo}`, '--branch=app/org.fmd.Bench/x86_64/stable', `--tree=dir=${tree}`, '-s', 'bench']);
  const objects = objectPaths(repo);
  const avg = objects.reduce((n, o) => n + o.size, 0) / objects.length;
  // Shuffle so that every connection walks the objects in a different order of sizes.
  const paths = objects.map((o) => `/repo/bench/${o.path}`).sort(() => Math.random() - 0.5);
  console.log(
    `${objects.length} objects (${(total / 1e6).toFixed(0)} MB of files, average object ${(avg / 1024).toFixed(1)} KiB), ${CONNECTIONS} connections, ${seconds} s each;`,
  );
  console.log(`${os.availableParallelism()} cores shared by the server and autocannon; page cache warm.\n`);

  const f = await measure('fmd (1 Node process)', fmd.url, paths);
  const n1 = await startNginx(path.join(dataDir, 'repos'), 1);
  let a: Awaited<ReturnType<typeof measure>>;
  let b: Awaited<ReturnType<typeof measure>>;
  try {
    a = await measure('nginx (1 worker)', n1.origin, paths);
  } finally {
    await n1.stop();
  }
  const n2 = await startNginx(path.join(dataDir, 'repos'), 'auto');
  try {
    b = await measure('nginx (worker_processes auto)', n2.origin, paths);
  } finally {
    await n2.stop();
  }
  console.log(`\nfmd / nginx (1 worker): ${((100 * f.objectsPerSec) / a.objectsPerSec).toFixed(0)}% of objects/s, ${((100 * f.mbPerSec) / a.mbPerSec).toFixed(0)}% of MB/s (target >= 50%)`);
  console.log(`fmd / nginx (auto):     ${((100 * f.objectsPerSec) / b.objectsPerSec).toFixed(0)}% of objects/s, ${((100 * f.mbPerSec) / b.mbPerSec).toFixed(0)}% of MB/s`);
} finally {
  await fmd.stop();
}
