// Push: the generated app (FILES=5000 files of FILE_KB=40 KiB, ~155 MB of archive objects) pushed
// to fmd over loopback three ways, beside references that do the same work, all in one run
// (absolute figures drift 2x between runs on a shared machine: compare the ratios):
// - `cp -r` of the archive repo's objects/ to a new directory on the same disk: the write limit;
// - `ostree pull` over HTTP of the same commit from a static server of that repo (nginx when
//   installed: apt-get install nginx-light; else a minimal Node static server): ostree's own
//   receive-verify-write path, with --disable-fsync as fmd does not fsync uploaded objects either;
// - flat-manager-client's push (the test kit's client, which sends exactly what it sends:
//   missing_objects in gzip chunks of 2000, sequential ~4 MiB multipart uploads) to a loopback
//   sink that answers the protocol and discards every byte: that client's own ceiling;
// - the same client's push to fmd (every object verified on arrival and written);
// - `pushRepo` of @fmd/sdk/push, what `fmdc push` runs, to fmd (and to the sink, its ceiling);
// - the `fmdc push` command itself, a process of its own (its start-up included).
// Targets (issue 11): fmdc push >= 2x flat-manager-client's rate; fmd >= 75% of the client's
// ceiling. (`ostree pull-local` is no reference: on one file system it hardlinks the objects.)
// Run from the repo root: npm run bench -- push   (or: npm exec -- node bench/push.ts)
// On these machines' ext4 (no journal) file creation slows down for ~30 s after many deletes
// (anyone's): wait between runs. `TMPDIR=/dev/shm` runs everything on tmpfs, which leaves the
// CPU cost alone (client and server share the machine's cores).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pushRepo } from '@fmd/sdk/push';
import { runTool } from '../server/src/ostree/exec.ts';
import { commitObjects, FlatManagerClient } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { generateApp, gql, objectBytes, REF, timed } from './support/gen-app.ts';
import { serveDirectory } from './support/static-server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The server process's user and system CPU seconds so far (Linux /proc, all its threads). */
const serverCpu = (): number[] => {
  const fields = readFileSync(`/proc/${fmd.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]), Number(fields[12])].map((ticks) => ticks / 100);
};

type Run = { ms: number; serverCpu?: number[]; requests?: string };

/** Times `push` into a new build on `origin`, with fmd's CPU seconds when the target is fmd. */
async function run(origin: string, token: string, push: (buildUrl: string) => Promise<string | undefined>): Promise<Run> {
  const build = await new FlatManagerClient(origin, token).createBuild('bench');
  const onFmd = origin === fmd.url;
  const before = onFmd ? serverCpu() : [];
  const { ms, value } = await timed(() => push(build.url));
  return { ms, serverCpu: onFmd ? serverCpu().map((s, i) => s - before[i]!) : undefined, requests: value };
}

/** flat-manager-client's push, as the test kit sends it. */
const kitPush = (origin: string, token: string) =>
  run(origin, token, async (url) => {
    const client = new FlatManagerClient(origin, token);
    await client.push(url, repo, { [REF]: commit });
    return `${client.stats.uploadRequests} upload, ${client.stats.missingRequests} missing_objects requests`;
  });

/** What `fmdc push` runs, in this process. */
const sdkPush = (origin: string, token: string) =>
  run(origin, token, async (buildUrl) => {
    const r = await pushRepo({ buildUrl, token, repo, refs: [REF] });
    return `${r.requests.upload} upload, ${r.requests.missingObjects} missing_objects requests`;
  });

/** The `fmdc push` command, a process of its own. */
const cliPush = (origin: string, token: string) =>
  run(origin, token, async (buildUrl) => {
    await runTool(process.execPath, [path.join(root, 'cli/bin/run.js'), 'push', buildUrl, repo, REF], { timeoutMs: 600_000, env: { ...process.env, FMDC_TOKEN: token, FMD_TOKEN: token } });
    return undefined;
  });

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
let repo = '';
let commit = '';
try {
  const gen = await timed(() => generateApp(dir));
  ({ repo, commit } = gen.value);
  const mb = objectBytes(repo) / 1e6;
  console.log(`generated ${gen.value.files} files, ${mb.toFixed(1)} MB of objects in ${(gen.ms / 1000).toFixed(1)} s; ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)}`);

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
  let kitSink: Run;
  let sdkSink: Run;
  try {
    kitSink = await kitPush(sink.origin, 'unused');
    sdkSink = await sdkPush(sink.origin, 'unused');
  } finally {
    sink.stop();
  }

  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo" }) { __typename } }`);
  // Warm-up: fmd starts its upload worker threads (and compiles their code) on the first upload.
  const warm = new FlatManagerClient(fmd.url, fmd.token);
  const { metadata } = await commitObjects(repo, commit);
  await warm.uploadObjects((await warm.createBuild('bench')).url, repo, metadata);
  // Each push goes into a build of its own: nothing is published, so every object is sent each time.
  const kitFmd = await kitPush(fmd.url, fmd.token);
  const sdkFmd = await sdkPush(fmd.url, fmd.token);
  const cliFmd = await cliPush(fmd.url, fmd.token);

  const rate = (ms: number) => mb / (ms / 1000);
  const row = (name: string, r: Run | number) => {
    const ms = typeof r === 'number' ? r : r.ms;
    const cpu = typeof r === 'number' || !r.serverCpu ? '' : `   fmd CPU ${r.serverCpu[0]!.toFixed(2)} s user + ${r.serverCpu[1]!.toFixed(2)} s system`;
    const requests = typeof r === 'number' || !r.requests ? '' : `   (${r.requests})`;
    console.log(`${name.padEnd(52)} ${(ms / 1000).toFixed(2).padStart(7)} s ${rate(ms).toFixed(1).padStart(8)} MB/s${cpu}${requests}`);
  };
  console.log(`\n${mb.toFixed(1)} MB, ${gen.value.files} files`);
  row('cp -r objects/ (the disk write limit)', copyMs);
  row(`ostree pull over HTTP (${web.name})`, pullMs);
  row('flat-manager-client push to a discarding sink', kitSink);
  row('flat-manager-client push to fmd', kitFmd);
  row('fmdc push (pushRepo) to a discarding sink', sdkSink);
  row('fmdc push (pushRepo) to fmd', sdkFmd);
  row('fmdc push, the command (its start-up included)', cliFmd);
  const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`;
  console.log(`\nfmdc push (pushRepo) = ${(kitFmd.ms / sdkFmd.ms).toFixed(2)}x flat-manager-client's rate (target >= 2x); the command: ${(kitFmd.ms / cliFmd.ms).toFixed(2)}x`);
  console.log(`fmdc push (pushRepo) = ${pct(copyMs, sdkFmd.ms)} of cp -r's rate; the command: ${pct(copyMs, cliFmd.ms)}; flat-manager-client: ${pct(copyMs, kitFmd.ms)}`);
  console.log(`flat-manager-client to fmd = ${pct(kitSink.ms, kitFmd.ms)} of its ceiling, the sink (target >= 75%); fmdc push to fmd = ${pct(sdkSink.ms, sdkFmd.ms)} of its sink`);
} finally {
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
