// Push throughput: a generated app (FILES=5000 files of FILE_KB=40 KiB, ~200 MB) pushed to fmd
// over loopback exactly as flat-manager-client does (missing_objects in gzip chunks of 2000,
// ~4 MiB multipart uploads, every object verified on arrival), beside `ostree pull-local` of
// the same commit between two archive repos on the same disk, trusted and --untrusted. Both
// pull-local modes hardlink the objects rather than copy them (--untrusted reads and verifies each
// first), so neither writes object data: the push does, as well as sending it over HTTP.
// Run from the repo root: npm exec -- node bench/push-throughput.ts
// On these machines' ext4 (no journal) file creation slows down for ~30 s after many deletes, in
// the pull-local runs and the push alike: wait between runs. `TMPDIR=/dev/shm` runs everything on
// tmpfs, which leaves the CPU cost alone (client and server share the 2 cores).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTool } from '../server/src/ostree/exec.ts';
import { FlatManagerClient } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { generateApp, gql, objectBytes, REF, timed } from './support/gen-app.ts';

/** The server process's user and system CPU seconds so far (Linux /proc). On a shared machine they
 * tell the server's own cost apart from waiting; system time also rises when ext4 (without a journal,
 * as here) allocates inodes in block groups with inodes freed in the last 30 s: wait between runs. */
const serverCpu = (): number[] => {
  const fields = readFileSync(`/proc/${fmd.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]), Number(fields[12])].map((ticks) => ticks / 100);
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-push-'));
const fmd = await startFmd({ FMD_JOB_WORKERS: '1' });
try {
  const gen = await timed(() => generateApp(dir));
  const { repo, commit, files } = gen.value;
  const bytes = objectBytes(repo);
  const mb = bytes / 1e6;
  console.log(`generated ${files} files, ${mb.toFixed(1)} MB of objects in ${(gen.ms / 1000).toFixed(1)} s`);

  const pull = async (untrusted: boolean) => {
    const dst = path.join(dir, `pull-${untrusted ? 'untrusted' : 'trusted'}`);
    await runTool('ostree', ['init', `--repo=${dst}`, '--mode=archive-z2']);
    const args = ['pull-local', `--repo=${dst}`, ...(untrusted ? ['--untrusted'] : []), repo, REF];
    return (await timed(() => runTool('ostree', args, { timeoutMs: 600_000 }))).ms;
  };
  const trustedMs = await pull(false);
  const untrustedMs = await pull(true);

  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo" }) { __typename } }`);
  const t0 = performance.now();
  const client = new FlatManagerClient(fmd.url, fmd.token, { log: (l) => process.env.FMD_BENCH_VERBOSE && console.log(`  +${Math.round(performance.now() - t0)} ms ${l}`) });
  const build = await client.createBuild('bench');
  const cpuBefore = serverCpu();
  const clientBefore = process.cpuUsage();
  const pushMs = (await timed(() => client.push(build.url, repo, { [REF]: commit }))).ms;
  const cpu = serverCpu().map((s, i) => s - cpuBefore[i]!);
  const clientCpu = process.cpuUsage(clientBefore);

  const row = (name: string, ms: number) => console.log(`${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s ${(mb / (ms / 1000)).toFixed(1).padStart(8)} MB/s`);
  console.log(`\n${mb.toFixed(1)} MB, ${files} files, ${client.stats.uploadRequests} upload requests, ${client.stats.missingRequests} missing_objects requests`);
  row('ostree pull-local (trusted)', trustedMs);
  row('ostree pull-local --untrusted', untrustedMs);
  row('fmd REST push (verified)', pushMs);
  console.log(`fmd push = ${((trustedMs / pushMs) * 100).toFixed(0)}% of trusted pull-local, ${((untrustedMs / pushMs) * 100).toFixed(0)}% of --untrusted`);
  console.log(`fmd server CPU during the push: ${cpu[0]!.toFixed(2)} s user, ${cpu[1]!.toFixed(2)} s system`);
  console.log(`client (this process) CPU:       ${(clientCpu.user / 1e6).toFixed(2)} s user, ${(clientCpu.system / 1e6).toFixed(2)} s system`);
} finally {
  await fmd.stop();
  rmSync(dir, { recursive: true, force: true });
}
