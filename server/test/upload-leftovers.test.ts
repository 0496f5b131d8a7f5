// Temp files of uploads: one cut off by kill -9 of the server is removed when the server starts
// again (a live upload's file stays), and a build that ends takes its upload temp files with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startTestServer, pollFor, jobEnded, type TestServer } from './kit/server.ts';
import { FlatManagerClient } from './kit/flat-manager-client.ts';

// `fmd serve`, as npm start and scripts/start.sh run it.
const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));

let s: TestServer;
let client: FlatManagerClient;
before(async () => {
  s = await startTestServer();
  client = new FlatManagerClient(s.url, s.adminToken);
  const r = await s.gql(`mutation { createRepo(input: { name: "up" }) { __typename ... on Error { message } } }`);
  assert.equal(r.body.data?.createRepo?.__typename, 'RepoPayload', JSON.stringify(r.body));
});
after(async () => {
  await s?.stop();
});

/** fmd as its own process on the test database and data dir; resolves with its URL once it serves. */
function startFmd(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [fmd, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: s.dbUrl,
      FMD_DATA_DIR: s.config.dataDir,
      FMD_SECRET: s.secret,
      FMD_HOST: '127.0.0.1',
      FMD_PORT: '0',
      FMD_JOB_WORKERS: '0',
      FMD_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`fmd exited with ${code}:\n${out}`));
    child.once('exit', onExit);
    void pollFor(() => /fmd is running at (\S+)/.exec(out), 60_000).then((m) => {
      child.off('exit', onExit);
      resolve({ child, url: m[1]! });
    }, reject);
  });
}

const tempFiles = async (dir: string) => (await readdir(path.join(dir, 'tmp')).catch(() => [] as string[])).filter((f) => f.startsWith('upload-'));

test('an upload cut by kill -9 leaves a temp file, which the next start removes', { timeout: 180_000 }, async () => {
  const build = await client.createBuild('up');
  const upload = s.services.builds.uploadPath(build.id);
  const first = await startFmd();
  let second: { child: ChildProcess; url: string } | undefined;
  const boundary = 'fmdleftover';
  // A large metadata object streams through a temp file; this one never ends.
  const req = http.request(`${first.url}/api/v1/build/${build.id}/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
  });
  req.on('error', () => undefined);
  try {
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file0"; filename="${'ab'.repeat(32)}.dirtree"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    req.write(Buffer.alloc(2 * 1024 * 1024, 7));
    const [left] = await pollFor(async () => {
      const files = await tempFiles(upload);
      return files.length ? files : null;
    }, 60_000);
    first.child.kill('SIGKILL');
    await new Promise((r) => (first.child.exitCode !== null ? r(null) : first.child.once('exit', r)));
    req.destroy();
    const leftover = path.join(upload, 'tmp', left!);
    assert.ok(existsSync(leftover), 'kill -9 left the temp file behind');

    // A live upload's temp file of this process, on the same disk, must survive the restart.
    const live = path.join(upload, 'tmp', `upload-${process.pid}-0123456789abcdef@${(await import('node:os')).hostname()}`);
    await writeFile(live, 'still being written');
    second = await startFmd();
    assert.equal(existsSync(leftover), false, 'the restart removed the dead upload\'s temp file');
    assert.ok(existsSync(live), 'a live upload\'s temp file stays');
    assert.deepEqual(await tempFiles(upload), [path.basename(live)]);
  } finally {
    req.destroy();
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
    if (second && second.child.exitCode === null) {
      const exited = new Promise((r) => second!.child.once('exit', r));
      second.child.kill('SIGTERM');
      await exited;
    }
  }
});

test('a build whose commit fails, or that is purged, takes its upload temp files with it', { timeout: 120_000 }, async () => {
  // Written by an upload of another host, just now: nothing at start would remove it.
  const plant = async (id: number) => {
    const dir = path.join(s.services.builds.uploadPath(id), 'tmp');
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'upload-1-0123456789abcdef@another-host');
    await writeFile(file, 'x');
    return file;
  };
  const failing = await client.createBuild('up');
  const failingTemp = await plant(failing.id);
  assert.equal(await s.services.builds.removeStaleUploads(), 0);
  assert.ok(existsSync(failingTemp));
  // No refs: the commit job fails, and the build with it.
  const commit = await client.startJob(failing.url, 'commit');
  await assert.rejects(jobEnded(s, commit.job.id), /No refs in build/);
  assert.equal((await s.services.builds.get(failing.id)).state, 'FAILED');
  assert.equal(existsSync(failingTemp), false, 'the failed build\'s temp file is gone');

  const purged = await client.createBuild('up');
  const purgedTemp = await plant(purged.id);
  const r = await s.gql(`mutation($n: Int!) { purgeBuild(input: { build: $n }) { __typename } }`, { n: purged.id });
  assert.equal(r.body.data.purgeBuild.__typename, 'BuildPayload');
  assert.equal(existsSync(purgedTemp), false, 'the purged build\'s temp file is gone');
});
