// `fmd import-flat-manager` as an operator runs it: a flat-manager installation made the way
// flat-manager keeps one (a gpg home dir with its key, an archive-z2 repo it published and
// signed with gpg, its config.json, its PostgreSQL tokens table), imported by bin/fmd.js in its
// own process into a fresh fmd, which then serves the repo to flatpak, updates and prunes it,
// and takes flat-manager's tokens except those it revoked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runTool } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';
import { psqlQuery } from '../src/ostree/psql.ts';
import { runFmd, showRun, type Ran } from './kit/fmd-command.ts';
import { createTestDatabase, type TestDatabase } from './kit/database.ts';
import { APP_ID, tempDir } from './kit/flatpak-fixtures.ts';
import { installAndRun, publishTestApp } from './kit/repo-fixtures.ts';
import { jobEnded, startTestServer, type TestServer } from './kit/server.ts';

const show = showRun;

/** A token as flat-manager signs one (jsonwebtoken's default header, HS256 over the decoded secret). */
function flatManagerToken(secret: string, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const unsigned = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64(claims)}`;
  return `${unsigned}.${createHmac('sha256', Buffer.from(secret, 'base64')).update(unsigned).digest('base64url')}`;
}

const PG_ADMIN = process.env.FMD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let fm: string; // flat-manager's directory: config.json, gnupg/, repo/
let gnupg: string;
let fingerprint: string;
const secret = randomBytes(32).toString('base64');
let pgDb: string | null = null;
const pgUrl = () => PG_ADMIN.replace(/\/[^/?]*(\?|$)/, `/${pgDb}$1`);
const live = randomUUID();
const revoked = randomUUID();
let db: TestDatabase;
let dataDir: string;

/** flat-manager's config for the fixture, with `change` applied. */
function fmConfig(change: (c: any) => void = () => {}): string {
  const c: any = {
    'database-url': pgDb ? pgUrl() : 'postgres://nobody@127.0.0.1:1/none',
    host: '0.0.0.0',
    port: 8080,
    'base-url': 'https://flatpak.example.org',
    'gpg-homedir': 'gnupg',
    secret,
    'build-repo-base': 'build-repo',
    'build-gpg-key': fingerprint,
    'delay-update-secs': 10,
    'local-delta-threads': 3,
    repos: {
      stable: {
        path: 'repo',
        'collection-id': 'org.fm.Stable',
        'deploy-collection-id': true,
        'suggested-repo-name': 'fm-stable',
        'runtime-repo-url': 'https://dl.example.org/runtime.flatpakrepo',
        'gpg-key': fingerprint.slice(-16),
        'default-token-type': 1,
        'require-auth-for-token-types': [2],
        'post-publish-script': path.join(fm, 'after-publish'),
        hooks: { publish: ['/usr/local/bin/check-build', '--strict'] },
        subsets: { free: { 'collection-id': 'org.fm.Stable.Free', 'base-url': 'https://free.example.org' } },
        deltas: [{ id: ['org.test.*'], depth: 3 }],
      },
    },
  };
  change(c);
  const file = path.join(fm, `config-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(c, null, 2));
  return file;
}

before(async () => {
  fm = await tempDir('fmd-flat-manager-');
  gnupg = path.join(fm, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  await runTool('gpg', ['--homedir', gnupg, '--batch', '--passphrase', '', '--quick-gen-key', 'Flat Manager Test <fm@example.org>', 'ed25519', 'sign', 'never']);
  const { stdout } = await runTool('gpg', ['--homedir', gnupg, '--batch', '--with-colons', '--list-secret-keys']);
  fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)![1]!;

  // Published and signed as flat-manager does: build-commit-from, then build-update-repo with its gpg key.
  const repo = path.join(fm, 'repo');
  await ostree.init(repo, { mode: 'archive-z2', collectionId: 'org.fm.Stable' });
  await publishTestApp(repo);
  // flat-manager signs the commits it publishes (build-commit-from --gpg-sign) and then the summary.
  for (const ref of await ostree.listRefs(repo)) {
    await runTool('ostree', ['gpg-sign', `--repo=${repo}`, `--gpg-homedir=${gnupg}`, ref, fingerprint]);
  }
  await runTool('flatpak', ['build-update-repo', `--gpg-sign=${fingerprint}`, `--gpg-homedir=${gnupg}`, repo], { timeoutMs: 300_000 });
  mkdirSync(path.join(fm, 'not-a-repo'));
  writeFileSync(path.join(fm, 'after-publish'), `#!/bin/sh\necho "$1 $2" > '${path.join(fm, 'post-publish.out')}'\n`, { mode: 0o755 });

  // flat-manager's tokens table (migrations/2023-03-31-195311_token_revocation), when PostgreSQL is here.
  try {
    await psqlQuery(PG_ADMIN, 'SELECT 1');
    pgDb = `fm_test_${randomBytes(6).toString('hex')}`;
    await psqlQuery(PG_ADMIN, `CREATE DATABASE ${pgDb}`);
    await psqlQuery(pgUrl(), 'CREATE TABLE tokens (token_id TEXT NOT NULL PRIMARY KEY, expires TIMESTAMP, last_used TIMESTAMP, revoked_at TIMESTAMP)');
    await psqlQuery(pgUrl(), `INSERT INTO tokens VALUES ('${live}', now() + interval '1 day', now(), NULL), ('${revoked}', now() + interval '1 day', now(), now() - interval '1 hour')`);
  } catch {
    pgDb = null;
  }
  db = await createTestDatabase();
  dataDir = await tempDir('fmd-import-data-');
});

after(async () => {
  await runTool('gpgconf', ['--homedir', gnupg, '--kill', 'gpg-agent']).catch(() => undefined);
  if (pgDb) await psqlQuery(PG_ADMIN, `DROP DATABASE IF EXISTS ${pgDb}`).catch(() => undefined);
  await db?.drop();
  rmSync(fm, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

const importEnv = (dir = dataDir, url = db.url) => ({ DATABASE_URL: url, FMD_DATA_DIR: dir });
const counts = async (d: TestDatabase) => {
  const [[r]] = (await d.pool.query('SELECT (SELECT count(*) FROM repos) AS repos, (SELECT count(*) FROM signing_keys) AS `keys`, (SELECT count(*) FROM api_tokens) AS tokens')) as any;
  return { repos: Number(r.repos), keys: Number(r.keys), tokens: Number(r.tokens) };
};

test('bad usage exits 2 with the usage, before reading anything', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^fmd import-flat-manager: which flat-manager config\? \(its config\.json\)\n\nusage: fmd import-flat-manager /],
    [['a.json', 'b.json'], /^fmd import-flat-manager: unexpected argument "b.json"/],
    [['--frob', 'a.json'], /^fmd import-flat-manager: Unknown option '--frob'/],
    [['--gpg-passphrase-file', '/nonexistent/pass', 'a.json'], /^fmd import-flat-manager: cannot read --gpg-passphrase-file: ENOENT/],
  ];
  const results = await Promise.all(cases.map(([args]) => runFmd(['import-flat-manager', ...args], { DATABASE_URL: 'mysql://nobody@127.0.0.1:1/none' })));
  for (const [i, [args, expected]] of cases.entries()) {
    assert.equal(results[i]!.code, 2, `${args.join(' ')}: ${show(results[i]!)}`);
    assert.match(results[i]!.stderr, expected);
    assert.equal(results[i]!.stdout, '');
  }
  const help = await runFmd(['import-flat-manager', '--help'], {});
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--dry-run/);
});

test('bad configs: one error line each, exit 1, nothing written', async () => {
  const d = await createTestDatabase();
  const dir = await tempDir('fmd-import-bad-');
  try {
    const cases: Array<[string, RegExp]> = [
      [path.join(fm, 'missing.json'), /^error: cannot read .*missing\.json: no such file$/],
      [(() => (writeFileSync(path.join(fm, 'broken.json'), '{"repos": {'), path.join(fm, 'broken.json')))(), /^error: .*broken\.json is not valid JSON: /],
      [fmConfig((c) => (c.repos.stable.path = 'not-a-repo')), /^error: repo stable: path .*not-a-repo is not an OSTree repo$/],
      [fmConfig((c) => (c.repos.stable['gpg-key'] = 'DEADBEEFDEADBEEF')), /^error: gpg-key "DEADBEEFDEADBEEF": no secret key with this id in gnupg$/],
      [fmConfig((c) => (c.repos.stable['collection-id'] = 'org.fm.Other')), /^error: repo stable: collection-id "org.fm.Other" differs from the repo's own core.collection-id "org.fm.Stable"$/],
      [fmConfig((c) => (c.repos['no/such'] = c.repos.stable)), /^error: repo no\/such: fmd repo names are /],
    ];
    for (const [file, expected] of cases) {
      const r = await runFmd(['import-flat-manager', '--skip-revoked-tokens', file], importEnv(dir, d.url));
      assert.equal(r.code, 1, show(r));
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
      assert.equal(errors.length, 1, show(r));
      assert.match(errors[0]!, expected);
      assert.match(r.stderr, /nothing was imported/);
      assert.doesNotMatch(r.stdout, /^done: /m);
    }
    assert.deepEqual(await counts(d), { repos: 0, keys: 0, tokens: 0 });
    assert.ok(!existsSync(path.join(dir, 'secret')), 'no secret written');
    assert.ok(!existsSync(path.join(dir, 'repos')) || readdirSync(path.join(dir, 'repos')).length === 0, 'no repo linked');

    // A database flat-manager's revocations cannot be read from stops the import: its revoked tokens would work again.
    const r = await runFmd(['import-flat-manager', fmConfig((c) => (c['database-url'] = 'postgres://nobody@127.0.0.1:1/none'))], importEnv(dir, d.url));
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^error: database-url: cannot read flat-manager's revoked tokens: .*\(or pass --skip-revoked-tokens\)$/m);
    assert.deepEqual(await counts(d), { repos: 0, keys: 0, tokens: 0 });
  } finally {
    await d.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('import, then fmd serves the repo, updates and prunes it, and takes flat-manager\'s tokens', async (t) => {
  const skipRevoked = pgDb === null;
  if (skipRevoked) t.diagnostic(`no PostgreSQL at ${PG_ADMIN}: revoked tokens are not imported in this run (set FMD_TEST_POSTGRES_URL)`);
  const config = fmConfig();
  const flags = skipRevoked ? ['--skip-revoked-tokens'] : [];

  const dry = await runFmd(['import-flat-manager', '--dry-run', ...flags, config], importEnv());
  assert.equal(dry.code, 0, show(dry));
  assert.match(dry.stdout, /^plan: key flat-manager [0-9A-F]{16}: import gpg-key /m);
  assert.match(dry.stdout, /^plan: repo stable: adopt /m);
  assert.match(dry.stdout, /^plan: secret: /m);
  assert.match(dry.stdout, /nothing written/);
  assert.deepEqual(await counts(db), { repos: 0, keys: 0, tokens: 0 });
  assert.ok(!existsSync(path.join(dataDir, 'secret')));

  const r = await runFmd(['import-flat-manager', ...flags, config], importEnv());
  assert.equal(r.code, 0, show(r));
  const done = r.stdout.split('\n').filter((l) => l.startsWith('done: '));
  assert.equal(done.length, skipRevoked ? 3 : 4, show(r));
  if (!skipRevoked) assert.match(r.stdout, /^done: tokens: revoke 1 token id\(s\) flat-manager revoked$/m);
  // Every setting without an fmd equivalent is named.
  for (const w of [/^warning: repo stable: subsets free: /m, /^warning: repo stable: deltas .*depth 3/m, /^warning: build-gpg-key: /m, /^warning: base-url: .*set `base-url` in fmd's config/m, /^warning: delay-update-secs: /m]) {
    assert.match(r.stdout, w);
  }
  const link = path.join(dataDir, 'repos', 'stable');
  assert.ok(lstatSync(link).isSymbolicLink(), 'the repo is linked, not copied');
  assert.equal(realpathSync(link), realpathSync(path.join(fm, 'repo')));
  assert.equal(readFileSync(path.join(dataDir, 'secret'), 'utf8').trim(), secret);

  // Again: nothing new.
  const again = await runFmd(['import-flat-manager', ...flags, config], importEnv());
  assert.equal(again.code, 0, show(again));
  assert.doesNotMatch(again.stdout, /^done: /m);
  assert.match(again.stdout, /^unchanged: repo stable: already adopted/m);
  assert.match(again.stdout, /^unchanged: key flat-manager /m);
  assert.deepEqual(await counts(db), { repos: 1, keys: 1, tokens: skipRevoked ? 0 : 1 });

  const s: TestServer = await startTestServer({ 'data-dir': dataDir, 'database-url': db.url, secret: readFileSync(path.join(dataDir, 'secret'), 'utf8').trim() });
  try {
    const repo = await s.services.repos.get('stable');
    assert.equal(repo.collectionId, 'org.fm.Stable');
    assert.equal(repo.deployCollectionId, true);
    assert.equal(repo.suggestedRemoteName, 'fm-stable');
    assert.equal(repo.runtimeRepoUrl, 'https://dl.example.org/runtime.flatpakrepo');
    assert.equal(repo.defaultTokenType, 1);
    assert.deepEqual(repo.authRequiredTokenTypes, [2]);
    assert.deepEqual((repo.hooks as any).postPublish, [path.join(fm, 'after-publish'), 'stable', realpathSync(path.join(fm, 'repo'))]);
    assert.deepEqual((repo.hooks as any).publish, ['/usr/local/bin/check-build', '--strict']);
    assert.equal((repo.deltaSettings as any).jobs, 3);
    const key = await s.services.keys.get(repo.keyId!);
    assert.equal(key.fingerprint, fingerprint);

    // Served as flat-manager left it: flatpak installs with the imported key's GPGKey.
    const flatpakrepo = await (await fetch(`${s.url}/repo/stable.flatpakrepo`)).text();
    assert.match(flatpakrepo, /^DeployCollectionID=org.fm.Stable$/m);
    assert.match(flatpakrepo, /^GPGKey=/m);
    const home = await tempDir('fmd-import-client-');
    try {
      assert.match(await installAndRun(home, { url: `${s.url}/repo/stable.flatpakrepo` }), /hello/i);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }

    // fmd's own update-repo (through the link) and prune work on the adopted repo.
    const upd = await s.gql(`mutation { updateRepo(input: { name: "stable", title: "Imported" }) { ... on RepoPayload { job { number } } ... on Error { message } } }`);
    const updJob = upd.body.data?.updateRepo?.job?.number;
    assert.ok(updJob, JSON.stringify(upd.body));
    await jobEnded(s, updJob);
    assert.match(await ostree.summaryView(link), /Imported/);
    // flat-manager's post-publish script, run as flat-manager runs it: `<script> <repo> <path>`.
    assert.equal(readFileSync(path.join(fm, 'post-publish.out'), 'utf8'), `stable ${realpathSync(path.join(fm, 'repo'))}\n`);

    // flat-manager's tokens: signed with its secret, carrying its claims.
    const claims = (jti: string) => ({ sub: '', scope: ['build', 'generate'], prefixes: [''], apps: [], repos: ['stable'], exp: Math.floor(Date.now() / 1000) + 3600, name: 'ci', jti });
    const prune = (token: string) => fetch(`${s.url}/api/v1/prune`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ repo: 'stable' }) });
    const ok = await prune(flatManagerToken(secret, claims(live)));
    assert.equal(ok.status, 200, await ok.clone().text());
    await jobEnded(s, ((await ok.json()) as { id: number }).id);
    if (!skipRevoked) {
      const refused = await prune(flatManagerToken(secret, claims(revoked)));
      assert.equal(refused.status, 401, await refused.text());
    }
    // After update-repo (signed by fmd now) and prune, a new client still installs.
    const home2 = await tempDir('fmd-import-client-');
    try {
      assert.match(await installAndRun(home2, { url: `${s.url}/repo/stable.flatpakrepo` }), /hello/i);
    } finally {
      rmSync(home2, { recursive: true, force: true });
    }
    assert.ok(existsSync(path.join(fm, 'repo', 'refs', 'heads', 'app', APP_ID)), 'the refs are still in flat-manager\'s directory');

    // Deleting the adopted repo in fmd takes the link away, never flat-manager's files.
    const del = await s.gql(`mutation { deleteRepo(input: { name: "stable" }) { ... on DeleteRepoPayload { job { number } } ... on Error { message } } }`);
    await jobEnded(s, del.body.data?.deleteRepo?.job?.number ?? assert.fail(JSON.stringify(del.body)));
    assert.ok(!existsSync(link) && !lstatSync(link, { throwIfNoEntry: false }), 'the link is gone');
    assert.ok(existsSync(path.join(fm, 'repo', 'refs', 'heads', 'app', APP_ID)), 'the repo is still in flat-manager\'s directory');
    assert.equal(await ostree.configGet(path.join(fm, 'repo'), 'core.mode'), 'archive-z2');
  } finally {
    await s.stop();
  }
});

test('a passphrase-protected key: a clear error naming it, imported with --gpg-passphrase-file', async () => {
  const home = path.join(fm, 'gnupg-protected');
  mkdirSync(home, { mode: 0o700 });
  const d = await createTestDatabase();
  const dir = await tempDir('fmd-import-protected-');
  try {
    await runTool('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'correct horse', '--quick-gen-key', 'Protected <p@example.org>', 'ed25519', 'sign', 'never']);
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec((await runTool('gpg', ['--homedir', home, '--batch', '--with-colons', '--list-secret-keys'])).stdout)![1]!;
    // The agent caches the passphrase it was just given: an operator's agent would not have it.
    await runTool('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    const config = fmConfig((c) => {
      c['gpg-homedir'] = home;
      c.repos.stable['gpg-key'] = fpr;
    });
    const none = await runFmd(['import-flat-manager', '--skip-revoked-tokens', config], importEnv(dir, d.url));
    assert.equal(none.code, 1, show(none));
    assert.deepEqual(
      none.stderr.split('\n').filter((l) => l.startsWith('error: ')),
      [`error: gpg-key "${fpr}" (${fpr}): the key is protected by a passphrase: give it with --gpg-passphrase-file`],
    );
    writeFileSync(path.join(dir, 'wrong'), 'battery staple\n');
    const wrong = await runFmd(['import-flat-manager', '--skip-revoked-tokens', '--gpg-passphrase-file', path.join(dir, 'wrong'), config], importEnv(dir, d.url));
    assert.equal(wrong.code, 1, show(wrong));
    assert.match(wrong.stderr, new RegExp(`^error: gpg-key "${fpr}" \\(${fpr}\\): the passphrase does not unlock it$`, 'm'));
    assert.deepEqual(await counts(d), { repos: 0, keys: 0, tokens: 0 });

    writeFileSync(path.join(dir, 'right'), 'correct horse\n');
    const right = await runFmd(['import-flat-manager', '--skip-revoked-tokens', '--gpg-passphrase-file', path.join(dir, 'right'), config], importEnv(dir, d.url));
    assert.equal(right.code, 0, show(right));
    assert.match(right.stdout, new RegExp(`^done: key flat-manager [0-9A-F]{16}: import gpg-key "${fpr}" \\(${fpr}, Protected <p@example.org>\\)`, 'm'));
    const [[key]] = (await d.pool.query('SELECT fingerprint FROM signing_keys')) as any;
    assert.equal(key.fingerprint, fpr);
  } finally {
    await runTool('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
    await d.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fmd with a token secret of its own: the import stops rather than break flat-manager\'s tokens', async () => {
  const d = await createTestDatabase();
  const dir = await tempDir('fmd-import-secret-');
  try {
    writeFileSync(path.join(dir, 'secret'), `${randomBytes(32).toString('base64')}\n`);
    const r = await runFmd(['import-flat-manager', '--skip-revoked-tokens', fmConfig()], importEnv(dir, d.url));
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^error: secret: fmd already has a secret of its own .*set fmd's `secret` to flat-manager's/m);
    assert.deepEqual(await counts(d), { repos: 0, keys: 0, tokens: 0 });
    // With fmd configured to flat-manager's secret, it goes through.
    const ok = await runFmd(['import-flat-manager', '--skip-revoked-tokens', fmConfig()], { ...importEnv(dir, d.url), FMD_SECRET: secret });
    assert.equal(ok.code, 0, show(ok));
    assert.match(ok.stdout, /^unchanged: secret: fmd already uses flat-manager's token secret$/m);
    assert.match(ok.stdout, /^warning: database-url: not read \(--skip-revoked-tokens\)/m);
  } finally {
    await d.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
