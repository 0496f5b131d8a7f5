// The fmd admin command as an operator runs it: bin/fmd.js in its own process, against a real
// MariaDB, a running test server and the real ostree/flatpak tools. (serve and worker are run
// this way by startup.test.ts, scripts.test.ts and the worker tests.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { readMigrations } from '../src/db/migrate.ts';
import { fmdBin, runFmd, showRun, type Ran } from './kit/fmd-command.ts';
import { createTestDatabase } from './kit/database.ts';
import { pollFor, startTestServer, type TestServer } from './kit/server.ts';



const problems = (r: Ran) => r.stdout.split('\n').filter((l) => l.startsWith('problem: '));
const show = showRun;

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s?.stop();
});

/** What fmd needs to find the test server's database, secret and data (master key, repos). */
const serverEnv = () => ({ DATABASE_URL: s.dbUrl, FMD_SECRET: s.secret, FMD_DATA_DIR: s.config.dataDir });

test('bad usage exits 2 with the usage; --help exits 0', async () => {
  const none = await runFmd([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^usage: fmd <command>/);
  for (const name of ['serve', 'worker', 'migrate', 'token', 'doctor', 'status']) assert.match(none.stderr, new RegExp(`^  ${name} `, 'm'));

  const unknown = await runFmd(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^fmd: unknown command "frobnicate"/);

  const cases: Array<[string[], RegExp]> = [
    [['doctor', '--frob'], /^fmd doctor: Unknown option '--frob'[\s\S]*usage: fmd doctor/],
    [['doctor', '--min-free', 'lots'], /^fmd doctor: bad size "lots"[\s\S]*usage: fmd doctor/],
    [['migrate', 'sideways'], /^fmd migrate: unexpected argument "sideways"[\s\S]*usage: fmd migrate/],
    [['migrate', 'resolve'], /^fmd migrate: resolve takes one of/],
    [['token'], /^fmd token: which token command\? \(mint\)[\s\S]*usage: fmd token mint/],
    [['token', 'mint', '--name', 'ci'], /^fmd token: --scope is required/],
    [['token', 'mint', '--name', 'ci', '--scope', 'build,fly'], /^fmd token: unknown scope fly/],
    [['token', 'mint', '--name', 'ci', '--scope', 'build', '--duration', 'soon'], /^fmd token: bad duration "soon"/],
    [['token', 'mint', '--admin', '--scope', 'build'], /^fmd token: --admin mints a token with every right/],
    [['status', '--url'], /^fmd status: Option '--url <value>' argument missing/],
    [['serve', 'now'], /^fmd serve: unexpected argument "now"/],
    [['worker', '--fast'], /^fmd worker: unexpected argument "--fast"/],
  ];
  // At once: each is a process of its own, checked before any database work.
  const results = await Promise.all(cases.map(([args]) => runFmd(args)));
  for (const [i, [args, expected]] of cases.entries()) {
    const r = results[i]!;
    assert.equal(r.code, 2, `fmd ${args.join(' ')}: ${show(r)}`);
    assert.match(r.stderr, expected, `fmd ${args.join(' ')}`);
    assert.equal(r.stdout, '', 'nothing on stdout');
  }

  const help = await runFmd(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: fmd <command>/);
  const doctorHelp = await runFmd(['doctor', '--help']);
  assert.equal(doctorHelp.code, 0);
  assert.match(doctorHelp.stdout, /^usage: fmd doctor \[--fsck\]/);
});

test('migrate --status lists a fresh database\'s migrations as pending; migrate applies them', async () => {
  const db = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-admin-'));
  try {
    const env = { DATABASE_URL: db.url, FMD_DATA_DIR: dataDir };
    const names = readMigrations().map((m) => m.name);
    assert.ok(names.length > 0);
    const fresh = await runFmd(['migrate', '--status'], env);
    assert.equal(fresh.code, 0, show(fresh));
    for (const name of names) assert.match(fresh.stdout, new RegExp(`^pending +${name}$`, 'm'));
    assert.match(fresh.stdout, new RegExp(`^0 applied, ${names.length} pending$`, 'm'));

    const applied = await runFmd(['migrate'], env);
    assert.equal(applied.code, 0, show(applied));
    assert.match(applied.stdout, new RegExp(`^applied ${names.length} migrations$`, 'm'));

    const after = await runFmd(['migrate', '--status'], env);
    assert.equal(after.code, 0, show(after));
    for (const name of names) assert.match(after.stdout, new RegExp(`^applied +${name} +\\d{4}-\\d\\d-\\d\\dT`, 'm'));
    assert.match(after.stdout, new RegExp(`^${names.length} applied, 0 pending$`, 'm'));
    assert.match((await runFmd(['migrate'], env)).stdout, /^the database is up to date$/m);
  } finally {
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('token mint prints a token that works against the running server, with the rights asked for', async () => {
  const minted = await runFmd(['token', 'mint', '--name', 'ci', '--scope', 'build,upload', '--scope', 'publish', '--repo', 'stable', '--prefix', 'org.example', '--duration', '2d'], serverEnv());
  assert.equal(minted.code, 0, show(minted));
  const token = minted.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'stdout is the token alone');
  const r = await s.gql('{ viewer { name scopes } }', {}, token);
  assert.deepEqual(r.body.data.viewer, { name: 'ci', scopes: ['build', 'upload', 'publish'] });
  const [row] = await s.services.prisma.apiToken.findMany({ where: { name: 'ci' } });
  assert.deepEqual([row!.repos, row!.prefixes], [['stable'], ['org.example']]);
  const days = (row!.expiresAt!.getTime() - Date.now()) / 86_400_000;
  assert.ok(days > 1.99 && days <= 2, `expires in ${days} days`);

  const admin = await runFmd(['token', 'mint', '--admin'], serverEnv());
  assert.equal(admin.code, 0, show(admin));
  const viewer = await s.gql('{ viewer { user { name isAdmin } } }', {}, admin.stdout.trim());
  assert.deepEqual(viewer.body.data.viewer.user, { name: 'admin', isAdmin: true });
});

async function gqlOk(query: string, variables: Record<string, unknown>): Promise<any> {
  const r = await s.gql(query, variables);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data;
}

const generateKey = async (input: Record<string, unknown>) =>
  (await gqlOk(`mutation($input: GenerateKeyInput!) { generateKey(input: $input) { __typename ... on KeyPayload { key { id fingerprint } } ... on Error { message } } }`, { input })).generateKey.key as { id: string; fingerprint: string };

async function createRepo(input: Record<string, unknown>): Promise<void> {
  const d = await gqlOk(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, { input });
  assert.equal(d.createRepo.__typename, 'RepoPayload', JSON.stringify(d));
}

test('doctor: a healthy set-up exits 0 with an ok line per check; expiring keys, a wrong master key and a missing repo dir are one problem line each', async () => {
  const release = await generateKey({ name: 'release' });
  await createRepo({ name: 'stable', collectionId: 'org.example.Stable', keyId: release.id });

  const healthy = await runFmd(['doctor', '--min-free', '1M'], serverEnv());
  assert.equal(healthy.code, 0, show(healthy));
  assert.deepEqual(problems(healthy), []);
  for (const line of [/^ok: ostree \d+\.\d+/m, /^ok: flatpak \d+\.\d+/m, /^ok: flatpak-builder \d+\.\d+/m, /^ok: data dir .* free$/m]) assert.match(healthy.stdout, line);
  assert.match(healthy.stdout, /^ok: database mysql:\/\/.* \(DATABASE_URL\) is reachable$/m);
  assert.match(healthy.stdout, /^ok: signing key "release" \(\w{16}, signs stable\): does not expire, decrypts with the master key$/m);
  assert.match(healthy.stdout, /^ok: repo stable: /m);
  assert.match(healthy.stdout, /^no problems found$/m);

  const fsck = await runFmd(['doctor', '--fsck', '--min-free', '1M'], serverEnv());
  assert.equal(fsck.code, 0, show(fsck));
  assert.match(fsck.stdout, /^ok: repo stable: .*ostree fsck found no problems/m);

  const soon = await generateKey({ name: 'soon', expiresInSeconds: 10 * 86400 });
  await createRepo({ name: 'gone', keyId: soon.id });
  rmSync(path.join(s.config.dataDir, 'repos', 'gone'), { recursive: true });
  const sick = await runFmd(['doctor', '--min-free', '1M'], { ...serverEnv(), FMD_MASTER_KEY: 'not the master key that sealed them' });
  assert.equal(sick.code, 1, show(sick));
  const lines = problems(sick).sort();
  assert.equal(lines.length, 4, show(sick));
  assert.match(lines[0]!, /^problem: repo gone: its directory .*\/repos\/gone does not exist$/);
  assert.match(lines[1]!, /^problem: signing key "release" \(\w{16}, signs stable\) cannot be decrypted with the master key/);
  assert.match(lines[2]!, /^problem: signing key "soon" \(\w{16}, signs gone\) cannot be decrypted with the master key/);
  assert.match(lines[3]!, /^problem: signing key "soon" \(\w{16}, signs gone\) expires on \d{4}-\d\d-\d\d, in 10 days/);
  assert.match(sick.stdout, /^4 problems found$/m);
});

test('doctor without flatpak-builder and with an unreachable database: one line for each problem, exit 1', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-doctor-'));
  try {
    // The tools doctor runs, except flatpak-builder.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['ostree', 'flatpak']) {
      const found = (process.env.PATH ?? '').split(':').map((d) => path.join(d, tool)).find((p) => existsSync(p));
      assert.ok(found, `${tool} is on the PATH`);
      symlinkSync(found, path.join(bin, tool));
    }
    // A port nothing listens on.
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const r = await runFmd(['doctor', '--min-free', '1M'], { PATH: bin, DATABASE_URL: `mysql://fmd:secret@127.0.0.1:${port}/fmd`, FMD_DATA_DIR: dir });
    assert.equal(r.code, 1, show(r));
    assert.deepEqual(problems(r), [
      'problem: flatpak-builder is not installed (not found on the PATH); fmd needs it (apt-get install flatpak-builder)',
      `problem: database mysql://fmd:***@127.0.0.1:${port}/fmd (DATABASE_URL) is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    assert.match(r.stdout, /^ok: ostree \d/m);
    assert.match(r.stdout, /^ok: flatpak \d/m);
    assert.match(r.stdout, /^2 problems found$/m);
    assert.doesNotMatch(r.stdout + r.stderr, /secret/, 'the password is not printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('status shows the API, the worker process, a queued and a running job with its worker, and repo updates', async () => {
  // A server that only queues, and an `fmd worker` process that runs one job at a time.
  const q = await startTestServer({ 'job-workers': 0 });
  let worker: ChildProcess | undefined;
  try {
    await q.gql(`mutation { createRepo(input: { name: "beta" }) { __typename } }`);
    const running = await q.services.jobs.enqueue('noop', { ms: 120_000 });
    worker = spawn(process.execPath, [fmdBin, 'worker'], {
      env: { PATH: process.env.PATH, DATABASE_URL: q.dbUrl, FMD_SECRET: q.secret, FMD_DATA_DIR: q.config.dataDir, FMD_JOB_WORKERS: '1', FMD_JOB_POLL_MS: '200', FMD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await pollFor(async () => (await q.services.jobs.get(running.id))?.status === 'STARTED', 30_000, 100);
    const queued = await q.services.jobs.enqueue('noop', { ms: 1000 });

    const r = await runFmd(['status', '--url', q.url], { DATABASE_URL: q.dbUrl, FMD_DATA_DIR: q.config.dataDir });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^API server\\n  ${q.url}: ready$`, 'm'));
    assert.match(r.stdout, new RegExp(`^Processes running jobs .*: 1\\n  [^\\s]+:${worker.pid}:\\w+  arches \\w+  git builds at once 1  seen \\d+ s ago$`, 'm'));
    assert.match(r.stdout, /^Queued jobs: 1\n  noop +1  oldest queued /m);
    assert.match(r.stdout, new RegExp(`^Running jobs: 1\\n  job ${running.id}  noop  started .* on [^\\s]+:${worker.pid}:\\w+$`, 'm'));
    assert.match(r.stdout, /^Last update-repo per repo: 1 repos\n  beta  (never updated|job \d+ )/m);
    assert.notEqual(queued.id, running.id);

    // The API away: said, and the rest is still shown.
    const away = await runFmd(['status', '--url', 'http://127.0.0.1:9'], { DATABASE_URL: q.dbUrl, FMD_DATA_DIR: q.config.dataDir });
    assert.equal(away.code, 0, show(away));
    assert.match(away.stdout, /^  http:\/\/127\.0\.0\.1:9: not answering/m);
    assert.match(away.stdout, /^Running jobs: 1$/m);
  } finally {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGKILL');
      await exited;
    }
    await q.stop();
  }
});

test('status with the database away exits 1 and says which database', async () => {
  const r = await runFmd(['status', '--url', s.url], { DATABASE_URL: 'mysql://root@127.0.0.1:9/fmd', FMD_DATA_DIR: s.config.dataDir });
  assert.equal(r.code, 1, show(r));
  assert.match(r.stdout, /: ready$/m);
  assert.match(r.stderr, /^fmd status: cannot read the database mysql:\/\/root@127\.0\.0\.1:9\/fmd \(DATABASE_URL\): connect ECONNREFUSED/m);
});
