// Push throughput: a generated app (FILES=5000 files of FILE_KB=40 KiB, ~200 MB) pushed to fmd
// over loopback exactly as flat-manager-client does (missing_objects in gzip chunks of 2000,
// ~4 MiB multipart uploads, every object verified on arrival), as a ratio of references that do
// the same work, measured in the same run (absolute figures drift 2x between runs on a shared
// machine):
// - `cp -r` of the archive repo's objects/ to a new directory: the disk's write limit;
// - `ostree pull` over HTTP of the same commit from a static server of that repo (nginx when
//   installed: apt-get install nginx-light; else a minimal Node static server): ostree's own
//   receive-verify-write path, with --disable-fsync as fmd does not fsync uploaded objects either;
// - the same push to a loopback sink that answers flat-manager's protocol and discards every
//   byte: the client's own ceiling.
// (`ostree pull-local` is no reference: between two repos on one file system it hardlinks the
// objects instead of writing them.)
// Run from the repo root: npm exec -- node bench/push-throughput.ts
// On these machines' ext4 (no journal) file creation slows down for ~30 s after many deletes:
// wait between runs. `TMPDIR=/dev/shm` runs everything on tmpfs, which leaves the CPU cost alone
// (client and server share the 2 cores).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTool } from '../server/src/ostree/exec.ts';
import { FlatManagerClient } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { generateApp, gql, objectBytes, REF, timed } from './support/gen-app.ts';
import { serveDirectory } from './support/static-server.ts';

/** The server process's user and system CPU seconds so far (Linux /proc). On a shared machine they
 * tell the server's own cost apart from waiting; system time also rises when ext4 (without a journal,
 * as here) allocates inodes in block groups with inodes freed in the last 30 s: wait between runs. */
const serverCpu = (): number[] => {
  const fields = readFileSync(`/proc/${fmd.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]), Number(fields[12])].map((ticks) => ticks / 100);
};

/** Pushes `commit` with the flat-manager client to the server at `origin`. */
async function push(origin: string, token: string, repo: string, commit: string) {
  const t0 = performance.now();
  const client = new FlatManagerClient(origin, token, { log: (l) => process.env.FMD_BENCH_VERBOSE && console.log(`  +${Math.round(performance.now() - t0)} ms ${l}`) });
  const build = await client.createBuild('bench');
  const before = process.cpuUsage();
  const ms = (await timed(() => client.push(build.url, repo, { [REF]: commit }))).ms;
  return { ms, client, cpu: process.cpuUsage(before) };
}

/** The sink in its own process, so that it does not share the client's event loop. */
async function startSink(): Promise<{ origin: string; stop(): void }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./support/flat-manager-sink.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const origin = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the sink exited with ${code}`)));
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
  return { origin, stop: () => child.kill('SIGTERM') };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-push-'));
const fmd = await startFmd({ FMD_JOB_WORKERS: '1' });
try {
  const gen = await timed(() => generateApp(dir));
  const { repo, commit, files } = gen.value;
  const bytes = objectBytes(repo);
  const mb = bytes / 1e6;
  console.log(`generated ${files} files, ${mb.toFixed(1)} MB of objects in ${(gen.ms / 1000).toFixed(1)} s`);

  const copyMs = (await timed(() => runTool('cp', ['-r', path.join(repo, 'objects'), path.join(dir, 'copied-objects')], { timeoutMs: 600_000 }))).ms;

  const web = await serveDirectory(repo);
  let pullMs: number;
  try {
    const dst = path.join(dir, 'pulled');
    await runTool('ostree', ['init', `--repo=${dst}`, '--mode=archive-z2']);
    await runTool('ostree', ['remote', 'add', `--repo=${dst}`, '--no-gpg-verify', 'src', web.origin]);
    pullMs = (await timed(() => runTool('ostree', ['pull', '--disable-fsync', `--repo=${dst}`, 'src', REF], { timeoutMs: 600_000 }))).ms;
  } finally {
    await web.stop();
  }

  const sink = await startSink();
  let sinkMs: number;
  try {
    sinkMs = (await push(sink.origin, 'unused', repo, commit)).ms;
  } finally {
    sink.stop();
  }

  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo" }) { __typename } }`);
  const cpuBefore = serverCpu();
  const pushed = await push(fmd.url, fmd.token, repo, commit);
  const cpu = serverCpu().map((s, i) => s - cpuBefore[i]!);

  const row = (name: string, ms: number) => console.log(`${name.padEnd(42)} ${(ms / 1000).toFixed(2).padStart(7)} s ${(mb / (ms / 1000)).toFixed(1).padStart(8)} MB/s`);
  console.log(`\n${mb.toFixed(1)} MB, ${files} files, ${pushed.client.stats.uploadRequests} upload requests, ${pushed.client.stats.missingRequests} missing_objects requests`);
  row('cp -r objects/ (disk write limit)', copyMs);
  row(`ostree pull over HTTP (${web.name})`, pullMs);
  row('push to a discarding sink (client ceiling)', sinkMs);
  row('fmd REST push (verified)', pushed.ms);
  const pct = (ms: number) => `${((ms / pushed.ms) * 100).toFixed(0)}%`;
  console.log(`\nfmd push MB/s = ${pct(copyMs)} of cp -r, ${pct(pullMs)} of ostree pull over HTTP, ${pct(sinkMs)} of the client's ceiling`);
  console.log(`fmd server CPU during the push: ${cpu[0]!.toFixed(2)} s user, ${cpu[1]!.toFixed(2)} s system`);
  console.log(`client (this process) CPU:       ${(pushed.cpu.user / 1e6).toFixed(2)} s user, ${(pushed.cpu.system / 1e6).toFixed(2)} s system`);
} finally {
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
