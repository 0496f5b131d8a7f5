// `fmdc login --user` (password sign-in, renewed on its own), `fmdc logout` ending the session,
// and the `fmdc user` commands, through the real fmdc against a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createFmdClient } from '@fmd/sdk';
import { startTestServer, type TestServer } from '../test/server.ts';
import { configDir, fmdc, type Run } from '../test/fmdc.ts';
import { grantText, parseGrant } from './users.ts';

type Profiles = { profiles: Record<string, { url: string; token: string; refreshToken?: string; accessTokenExpiresAt?: string; user?: string }> };

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
const failed = (run: Run, code: number) => assert.equal(run.code, code, `exit ${code} expected; stdout: ${run.stdout} stderr: ${run.stderr}`);

test('grants are written ROLE[:REPO[:PREFIX]]', () => {
  assert.deepEqual(parseGrant('uploader'), { role: 'UPLOADER', repo: null, prefix: '' });
  assert.deepEqual(parseGrant('repo-admin:stable'), { role: 'REPO_ADMIN', repo: 'stable', prefix: '' });
  assert.deepEqual(parseGrant('viewer:*:org.example'), { role: 'VIEWER', repo: null, prefix: 'org.example' });
  assert.throws(() => parseGrant('owner'), /not a role grant/);
  assert.throws(() => parseGrant('viewer:a:b:c'), /not a role grant/);
  assert.equal(grantText({ role: 'PUBLISHER', repo: 'stable', prefix: 'org.example' }), 'publisher on stable for org.example*');
});

describe('fmdc with user accounts', () => {
  let server: TestServer;
  let admin: Record<string, string>;
  const dirs: string[] = [];
  const fresh = async () => {
    const d = await configDir();
    dirs.push(d);
    return d;
  };
  const profiles = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'profiles.json'), 'utf8')) as Profiles;

  before(async () => {
    server = await startTestServer();
    admin = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('an admin creates, lists, shows, changes, grants to, unlocks and deletes users', async () => {
    // Grants name existing repos: refused before the repo exists.
    failed(await fmdc(['user', 'create', 'early', '--no-password', '--grant', 'viewer:stable'], { env: admin }), 1);
    assert.equal((await fmdc(['repo', 'create', 'stable'], { env: admin })).code, 0);
    const created = json<{ user: { name: string; roles: { role: string; repo: string | null; prefix: string }[] } }>(
      await fmdc(['user', 'create', 'alice', '--password-stdin', '--display-name', 'Alice A.', '--grant', 'uploader:stable:org.example', '--json'], { env: admin, input: 'alice-password-1\n' }),
    );
    assert.deepEqual(created.user.roles.map((r) => [r.role, r.repo, r.prefix]), [['UPLOADER', 'stable', 'org.example']]);
    // Bad input: a user name the server refuses, a grant fmdc cannot read, a short password; nothing created.
    failed(await fmdc(['user', 'create', 'Bad Name', '--no-password'], { env: admin }), 1);
    failed(await fmdc(['user', 'create', 'bob', '--grant', 'owner', '--no-password'], { env: admin }), 2);
    failed(await fmdc(['user', 'create', 'bob', '--password-stdin'], { env: admin, input: 'short\n' }), 1);
    const list = json<{ nodes: { name: string }[] }>(await fmdc(['user', 'list', '--json'], { env: admin }));
    assert.ok(list.nodes.some((u) => u.name === 'alice'));
    assert.ok(!list.nodes.some((u) => u.name === 'bob'), 'nothing created by the refused commands');
    assert.deepEqual(json<{ nodes: { name: string }[] }>(await fmdc(['user', 'list', '--search', 'alic', '--json'], { env: admin })).nodes.map((u) => u.name), ['alice']);

    const granted = json<{ grant: { id: string } }>(await fmdc(['user', 'grant', 'alice', '--role', 'publisher', '--repo', 'stable', '--json'], { env: admin }));
    const shown = await fmdc(['user', 'show', 'alice'], { env: admin });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /publisher on stable/);
    assert.match(shown.stdout, /uploader on stable for org\.example\*/);
    assert.match(shown.stdout, /display name: Alice A\./);
    json(await fmdc(['user', 'revoke-role', granted.grant.id, '--json'], { env: admin }));
    assert.doesNotMatch((await fmdc(['user', 'show', 'alice'], { env: admin })).stdout, /publisher/);

    const updated = json<{ user: { disabled: boolean; email: string } }>(await fmdc(['user', 'update', 'alice', '--email', 'alice@example.org', '--disable', '--json'], { env: admin }));
    assert.equal(updated.user.disabled, true);
    assert.equal(updated.user.email, 'alice@example.org');
    json(await fmdc(['user', 'update', 'alice', '--enable', '--json'], { env: admin }));
    failed(await fmdc(['user', 'update', 'alice'], { env: admin }), 2);
    json(await fmdc(['user', 'unlock', 'alice', '--json'], { env: admin }));
    const missing = await fmdc(['user', 'show', 'nobody', '--json'], { env: admin });
    failed(missing, 1);
    assert.match(JSON.parse(missing.stdout).error.message, /no user "nobody"/);

    json(await fmdc(['user', 'create', 'temp', '--no-password', '--json'], { env: admin }));
    failed(await fmdc(['user', 'delete', 'temp'], { env: admin }), 2); // no terminal, no --yes
    json(await fmdc(['user', 'delete', 'temp', '--yes', '--json'], { env: admin }));
    failed(await fmdc(['user', 'show', 'temp'], { env: admin }), 1);
  });

  test('login --user stores a session that later commands use and renew; a wrong password stores nothing', async () => {
    json(await fmdc(['user', 'create', 'carol', '--password-stdin', '--json'], { env: admin, input: 'carol-password-1\n' }));
    const config = await fresh();
    const wrong = await fmdc(['login', '--url', server.url, '--user', 'carol', '--password-stdin'], { configDir: config, input: 'not-her-password\n' });
    failed(wrong, 4);
    assert.match(wrong.stderr, /refused the sign-in/);
    await assert.rejects(readFile(path.join(config, 'profiles.json')));

    const ok = await fmdc(['login', '--url', server.url, '--user', 'carol', '--password-stdin'], { configDir: config, input: 'carol-password-1\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /signed in to \S+ as carol/);
    const first = (await profiles(config)).profiles.default!;
    assert.ok(first.refreshToken && first.token);
    assert.equal(json<{ user: { name: string } }>(await fmdc(['whoami', '--json'], { configDir: config })).user.name, 'carol');

    // Said to expire now: the next command renews it and stores the new tokens.
    await writeFile(path.join(config, 'profiles.json'), JSON.stringify({ profiles: { default: { ...first, accessTokenExpiresAt: new Date().toISOString() } } }));
    assert.equal(json<{ user: { name: string } }>(await fmdc(['whoami', '--json'], { configDir: config })).user.name, 'carol');
    const second = (await profiles(config)).profiles.default!;
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.notEqual(second.token, first.token);
    const old = (await createFmdClient({ url: server.url }).refreshSession({ input: { refreshToken: first.refreshToken! } })).refreshSession;
    assert.equal(old.__typename, 'SignInError');

    // Sessions: the CLI's own is listed; passwd changes the password and ends the others.
    const other = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--user', 'carol', '--password-stdin'], { configDir: other, input: 'carol-password-1\n' })).code, 0);
    const sessions = json<{ id: string; current: boolean }[]>(await fmdc(['user', 'sessions', '--json'], { configDir: config }));
    assert.equal(sessions.length, 2);
    assert.equal(sessions.filter((s) => s.current).length, 1);
    const changed = json<{ endedSessions: number }>(await fmdc(['user', 'passwd', '--password-stdin', '--json'], { configDir: config, input: 'carol-password-1\ncarol-password-2\n' }));
    assert.equal(changed.endedSessions, 1);
    const ended = await fmdc(['whoami'], { configDir: other });
    failed(ended, 4);
    assert.equal(json<{ user: { name: string } }>(await fmdc(['whoami', '--json'], { configDir: config })).user.name, 'carol', 'this session stays');
    failed(await fmdc(['user', 'passwd', '--password-stdin'], { configDir: config, input: 'wrong-current-pw\ncarol-password-3\n' }), 1);

    // logout ends the session on the server: its refresh token no longer works.
    const beforeLogout = (await profiles(config)).profiles.default!;
    const out = json<{ removed: string[]; endedSessions: number }>(await fmdc(['logout', '--json'], { configDir: config }));
    assert.deepEqual(out, { removed: ['default'], endedSessions: 1 });
    const gone = (await createFmdClient({ url: server.url }).refreshSession({ input: { refreshToken: beforeLogout.refreshToken! } })).refreshSession;
    assert.equal(gone.__typename, 'SignInError');
  });

  test('logout --everywhere ends every session of the user; an admin sets a password and revokes a session', async () => {
    json(await fmdc(['user', 'create', 'dave', '--password-stdin', '--json'], { env: admin, input: 'dave-password-1\n' }));
    const a = await fresh();
    const b = await fresh();
    for (const dir of [a, b]) assert.equal((await fmdc(['login', '--url', server.url, '--user', 'dave', '--password-stdin'], { configDir: dir, input: 'dave-password-1\n' })).code, 0);
    const out = json<{ endedSessions: number }>(await fmdc(['logout', '--everywhere', '--json'], { configDir: a }));
    assert.equal(out.endedSessions, 2);
    failed(await fmdc(['whoami'], { configDir: b }), 4);

    // Admin: set-password ends the user's sessions; revoke-session ends one.
    const c = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--user', 'dave', '--password-stdin'], { configDir: c, input: 'dave-password-1\n' })).code, 0);
    const set = json<{ endedSessions: number }>(await fmdc(['user', 'set-password', 'dave', '--password-stdin', '--json'], { env: admin, input: 'dave-password-2\n' }));
    assert.equal(set.endedSessions, 1);
    failed(await fmdc(['whoami'], { configDir: c }), 4);
    assert.equal((await fmdc(['login', '--url', server.url, '--user', 'dave', '--password-stdin'], { configDir: c, input: 'dave-password-2\n' })).code, 0);
    const [session] = json<{ id: string }[]>(await fmdc(['user', 'sessions', 'dave', '--json'], { env: admin }));
    json(await fmdc(['user', 'revoke-session', session!.id, '--json'], { env: admin }));
    failed(await fmdc(['whoami'], { configDir: c }), 4);
  });

  test('invites: created with a link shown once, listed', async () => {
    const inv = json<{ invite: { url: string | null; code: string | null; id: string } }>(await fmdc(['user', 'invite', '--email', 'erin@example.org', '--grant', 'viewer', '--json'], { env: admin }));
    assert.ok(inv.invite.code && inv.invite.url?.includes(inv.invite.code));
    const listed = json<{ id: string; email: string; code: string | null }[]>(await fmdc(['user', 'invites', '--json'], { env: admin }));
    const mine = listed.find((i) => i.id === inv.invite.id);
    assert.equal(mine?.email, 'erin@example.org');
    assert.equal(mine?.code, null, 'the code is not shown again');
    failed(await fmdc(['user', 'invite', '--grant', 'viewer:a:b:c'], { env: admin }), 2);
  });
});
