// User accounts through GraphQL over HTTP: password sign-in, refresh rotation, lockout, sign-out
// everywhere, password changes, invites, and roles that bound every token a user owns, also
// after a role is lowered. The operator's `fmd user` command makes an account with no token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { runFmd, showRun } from './kit/fmd-command.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let s: TestServer;
before(async () => {
  s = await startTestServer({ 'job-workers': 0, 'signin-max-failures': 3, 'signin-lockout-secs': 600 });
  await createSignedRepo(s, 'main');
  await createSignedRepo(s, 'other');
});
after(async () => {
  await s?.stop();
});

const SIGN_IN = `mutation($u: String!, $p: String!) { signIn(input: { username: $u, password: $p }) {
  __typename ... on SignInPayload { accessToken refreshToken accessTokenExpiresAt session { id current } user { name } }
  ... on SignInError { reason lockedUntil message } ... on Error { message } } }`;

async function signIn(u: string, p: string) {
  const r = await s.gql(SIGN_IN, { u, p }, null);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data.signIn;
}

async function ok(query: string, variables: Record<string, unknown> = {}, token: string | null = s.adminToken) {
  const r = await s.gql(query, variables, token);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body));
  return r.body.data;
}

async function createUser(name: string, roles: Array<{ repo?: string; prefix?: string; role: string }>, extra: Record<string, unknown> = {}) {
  const d = await ok(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on CreateUserPayload { user { id name roles { id repo prefix role } } } ... on Error { message } } }`, {
    input: { name, password: `${name}-password-1`, roles, ...extra },
  });
  assert.equal(d.createUser.__typename, 'CreateUserPayload', JSON.stringify(d));
  return d.createUser.user;
}

/** How a refusal reads, as an error result or a top-level error. */
const refused = (t: string | undefined): string => (t === 'ForbiddenError' ? 'FORBIDDEN' : String(t));

/** The result type of a mutation probing a right: allowed ones go past authorization. */
async function createBuild(token: string, repo: string, appId?: string): Promise<string> {
  const r = await s.gql(`mutation($input: CreateBuildInput!) { createBuild(input: $input) { __typename } }`, { input: { repo, ...(appId ? { appId } : {}) } }, token);
  return refused(r.body.data?.createBuild?.__typename ?? r.body.errors?.[0]?.extensions?.code);
}
async function prune(token: string, repo: string): Promise<string> {
  const r = await s.gql(`mutation($repo: String!) { pruneRepo(input: { repo: $repo }) { __typename } }`, { repo }, token);
  return refused(r.body.data?.pruneRepo?.__typename ?? r.body.errors?.[0]?.extensions?.code);
}

test('password sign-in, refresh rotation, sign-out and sign-out everywhere', async () => {
  await createUser('alice', [{ repo: 'main', role: 'UPLOADER' }]);
  const bad = await signIn('alice', 'not her password');
  assert.equal(bad.reason, 'BAD_CREDENTIALS');
  const nobody = await signIn('nobody', 'whatever-password');
  assert.equal(nobody.reason, 'BAD_CREDENTIALS', 'an unknown name answers as a wrong password does');

  const a = await signIn('alice', 'alice-password-1');
  assert.equal(a.__typename, 'SignInPayload', JSON.stringify(a));
  const me = await ok('{ viewer { user { name sessions { id current } } scopes repos } }', {}, a.accessToken);
  assert.equal(me.viewer.user.name, 'alice');
  assert.deepEqual(me.viewer.repos, ['main']);
  assert.equal(me.viewer.user.sessions.filter((x: any) => x.current).length, 1);
  assert.equal(await createBuild(a.accessToken, 'main'), 'BuildPayload');
  assert.equal(await createBuild(a.accessToken, 'other'), 'FORBIDDEN');

  // Refresh: new tokens, the old refresh token is spent.
  const r1 = await ok(`mutation($t: String!) { refreshSession(input: { refreshToken: $t }) { __typename ... on SignInPayload { accessToken refreshToken } ... on SignInError { reason } } }`, { t: a.refreshToken }, null);
  assert.equal(r1.refreshSession.__typename, 'SignInPayload');
  assert.notEqual(r1.refreshSession.refreshToken, a.refreshToken);
  const again = await ok(`mutation($t: String!) { refreshSession(input: { refreshToken: $t }) { __typename ... on SignInError { reason } } }`, { t: a.refreshToken }, null);
  assert.equal(again.refreshSession.reason, 'BAD_REFRESH_TOKEN');

  // A second session; sign-out everywhere ends both, their access tokens at once.
  const b = await signIn('alice', 'alice-password-1');
  const ended = await ok('mutation { signOutEverywhere { __typename ... on SignOutEverywherePayload { endedSessions } } }', {}, b.accessToken);
  assert.equal(ended.signOutEverywhere.endedSessions, 2);
  for (const t of [a.accessToken, r1.refreshSession.accessToken, b.accessToken]) {
    const r = await s.gql('{ viewer { name } }', {}, t);
    assert.equal(r.body.errors?.[0]?.extensions?.reason, 'revoked', JSON.stringify(r.body));
  }
  const dead = await ok(`mutation($t: String!) { refreshSession(input: { refreshToken: $t }) { __typename ... on SignInError { reason } } }`, { t: r1.refreshSession.refreshToken }, null);
  assert.equal(dead.refreshSession.reason, 'BAD_REFRESH_TOKEN');
});

test('lockout after repeated failures; an admin unlocks', async () => {
  const u = await createUser('bob', [{ role: 'VIEWER' }]);
  assert.equal((await signIn('bob', 'wrong-password-1')).reason, 'BAD_CREDENTIALS');
  assert.equal((await signIn('bob', 'wrong-password-2')).reason, 'BAD_CREDENTIALS');
  const locked = await signIn('bob', 'wrong-password-3');
  assert.equal(locked.reason, 'LOCKED');
  assert.ok(new Date(locked.lockedUntil).getTime() > Date.now() + 500_000, locked.lockedUntil);
  // Locked: even the right password is refused, and says until when.
  const right = await signIn('bob', 'bob-password-1');
  assert.equal(right.reason, 'LOCKED');
  assert.match(right.message, /locked until/);
  const shown = await ok('query($n: String!) { user(name: $n) { lockedUntil } }', { n: 'bob' });
  assert.ok(shown.user.lockedUntil);
  await ok('mutation($u: ID!) { unlockUser(input: { user: $u }) { __typename } }', { u: u.id });
  assert.equal((await signIn('bob', 'bob-password-1')).__typename, 'SignInPayload');
});

test('a password change ends the other sessions, not this one', async () => {
  await createUser('carol', [{ role: 'VIEWER' }]);
  const one = await signIn('carol', 'carol-password-1');
  const two = await signIn('carol', 'carol-password-1');
  const wrong = await ok(`mutation { changePassword(input: { currentPassword: "nope-nope-nope", newPassword: "carol-password-2" }) { __typename ... on InvalidInputError { field } } }`, {}, one.accessToken);
  assert.equal(wrong.changePassword.field, 'currentPassword');
  const short = await ok(`mutation { changePassword(input: { currentPassword: "carol-password-1", newPassword: "short" }) { __typename ... on InvalidInputError { field } } }`, {}, one.accessToken);
  assert.equal(short.changePassword.field, 'newPassword');
  const changed = await ok(`mutation { changePassword(input: { currentPassword: "carol-password-1", newPassword: "carol-password-2" }) { __typename ... on ChangePasswordPayload { endedSessions } } }`, {}, one.accessToken);
  assert.equal(changed.changePassword.endedSessions, 1);
  assert.equal((await s.gql('{ viewer { name } }', {}, one.accessToken)).body.errors, undefined);
  assert.equal((await s.gql('{ viewer { name } }', {}, two.accessToken)).body.errors?.[0]?.extensions?.reason, 'revoked');
  assert.equal((await signIn('carol', 'carol-password-1')).reason, 'BAD_CREDENTIALS');
  assert.equal((await signIn('carol', 'carol-password-2')).__typename, 'SignInPayload');
});

test("roles bound every token a user owns: one role's repo never lends another role's scope, and lowering a role reaches minted tokens", async () => {
  const dave = await createUser('dave', [
    { repo: 'main', role: 'PUBLISHER' },
    { repo: 'other', role: 'VIEWER' },
  ]);
  const session = await signIn('dave', 'dave-password-1');
  // The session's claims are the hull (build on main and other), the roles cut the cross product.
  assert.equal(await createBuild(session.accessToken, 'main'), 'BuildPayload');
  assert.equal(await createBuild(session.accessToken, 'other'), 'FORBIDDEN');

  // A token beyond the roles is refused when minted.
  const beyond = await ok(`mutation { createToken(input: { name: "ci", scopes: ["build"], repos: ["other"], durationSeconds: 86400 }) { __typename ... on ForbiddenError { message } } }`, {}, session.accessToken);
  assert.equal(beyond.createToken.__typename, 'ForbiddenError');
  assert.match(beyond.createToken.message, /roles/);
  // Within them it is minted, outlives the session, and is the user's.
  const minted = await ok(
    `mutation { createToken(input: { name: "ci", scopes: ["build", "upload", "publish"], repos: ["main"], durationSeconds: 86400 }) { __typename ... on CreateTokenPayload { token apiToken { tokenId owner { name } } } ... on Error { message } } }`,
    {},
    session.accessToken,
  );
  assert.equal(minted.createToken.__typename, 'CreateTokenPayload', JSON.stringify(minted));
  assert.equal(minted.createToken.apiToken.owner.name, 'dave');
  const ci = minted.createToken.token;
  assert.equal(await createBuild(ci, 'main'), 'BuildPayload');
  const mine = await ok('{ tokens(first: 50) { edges { node { tokenId } } } }', {}, session.accessToken);
  assert.ok(mine.tokens.edges.some((e: any) => e.node.tokenId === minted.createToken.apiToken.tokenId), 'a signed-in user lists the tokens it owns');

  // Lower main to VIEWER: the token minted as a publisher loses build at once.
  const grant = (await ok('query { user(name: "dave") { roles { id repo role } } }')).user.roles.find((g: any) => g.repo === 'main');
  const lowered = await ok(`mutation($u: ID!) { grantRole(input: { user: $u, repo: "main", role: VIEWER }) { __typename ... on GrantRolePayload { grant { id role } } } }`, { u: dave.id });
  assert.equal(lowered.grantRole.grant.id, grant.id, 'the role on main was replaced');
  assert.equal(await createBuild(ci, 'main'), 'FORBIDDEN');
  assert.equal(await createBuild(session.accessToken, 'main'), 'FORBIDDEN');
  // Revoked entirely: nothing is left to read either.
  await ok(`mutation($g: ID!) { revokeRole(input: { grant: $g }) { __typename } }`, { g: grant.id });
  const builds = await s.gql('{ builds(first: 5) { edges { node { number repo { name } } } } }', {}, ci);
  const seen = (builds.body.data?.builds?.edges ?? []).map((e: any) => e.node.repo.name);
  assert.ok(!seen.includes('main'), JSON.stringify(builds.body));

  // A disabled user's tokens stop.
  await ok(`mutation($u: ID!) { updateUser(input: { user: $u, disabled: true }) { __typename } }`, { u: dave.id });
  assert.equal((await s.gql('{ viewer { name } }', {}, ci)).body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  assert.equal((await signIn('dave', 'dave-password-1')).reason, 'DISABLED');
});

test('repo admins administer their repo only; only fmd admins manage users', async () => {
  await createUser('erin', [{ repo: 'main', role: 'REPO_ADMIN' }]);
  const t = (await signIn('erin', 'erin-password-1')).accessToken;
  assert.equal(await prune(t, 'main'), 'BuildJobPayload');
  assert.equal(await prune(t, 'other'), 'FORBIDDEN');
  const upd = (repo: string) => s.gql(`mutation($r: String!) { updateRepo(input: { name: $r, title: "t" }) { __typename } }`, { r: repo }, t);
  assert.equal((await upd('main')).body.data?.updateRepo?.__typename, 'RepoPayload');
  assert.ok((await upd('other')).body.errors?.length || (await upd('other')).body.data?.updateRepo?.__typename === 'ForbiddenError');
  const cu = await s.gql(`mutation { createUser(input: { name: "mallory", password: "mallory-password" }) { __typename } }`, {}, t);
  assert.equal(cu.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  const users = await ok('{ users(first: 10) { edges { node { name } } } }', {}, t);
  assert.deepEqual(users.users.edges.map((e: any) => e.node.name), ['erin']);
  const key = await s.gql(`mutation { generateKey(input: { name: "k", email: "k@example.org" }) { __typename } }`, {}, t);
  assert.equal(key.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
});

test('invites: one account each, within their expiry', async () => {
  const inv = await ok(`mutation { createInvite(input: { roles: [{ repo: "main", role: UPLOADER }], expiresInHours: 1 }) { __typename ... on CreateInvitePayload { invite { id code url } } } }`);
  const { code, url } = inv.createInvite.invite;
  assert.ok(url.endsWith(`/invite/${code}`), url);
  const accept = (name: string) =>
    ok(`mutation($c: String!, $n: String!) { acceptInvite(input: { code: $c, name: $n, password: "invited-password" }) { __typename ... on SignInPayload { accessToken user { name roles { repo role } } } ... on SignInError { reason } ... on InvalidInputError { field } } }`, { c: code, n: name }, null);
  const bad = await accept('Not A Name');
  assert.equal(bad.acceptInvite.field, 'name');
  const first = await accept('frank');
  assert.equal(first.acceptInvite.__typename, 'SignInPayload');
  assert.deepEqual(first.acceptInvite.user.roles, [{ repo: 'main', role: 'UPLOADER' }]);
  assert.equal((await accept('grace')).acceptInvite.reason, 'BAD_INVITE');
  assert.equal((await ok('{ users(first: 50, search: "grace") { edges { node { name } } } }')).users.edges.length, 0);
});

test('bad input: names, passwords, roles, ids; nothing is written', async () => {
  const before = await s.services.prisma.user.count();
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ name: 'UPPER', password: 'long-enough-pw' }, 'name'],
    [{ name: 'x'.repeat(64), password: 'long-enough-pw' }, 'name'],
    [{ name: 'shorty', password: 'short' }, 'password'],
    [{ name: 'long', password: 'p'.repeat(1025) }, 'password'],
    [{ name: 'emaily', password: 'long-enough-pw', email: 'not an email' }, 'email'],
    [{ name: 'prefixy', password: 'long-enough-pw', roles: [{ prefix: 'org..x', role: 'VIEWER' }] }, 'prefix'],
    [{ name: 'twice', password: 'long-enough-pw', roles: [{ repo: 'main', role: 'VIEWER' }, { repo: 'main', role: 'UPLOADER' }] }, 'roles'],
    [{ name: 'alice', password: 'long-enough-pw' }, 'name'],
  ];
  for (const [input, field] of cases) {
    const d = await ok(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on InvalidInputError { field } ... on NotFoundError { entity } } }`, { input });
    assert.equal(d.createUser.field, field, `${JSON.stringify(input).slice(0, 80)} → ${JSON.stringify(d)}`);
  }
  const ghostRepo = await ok(`mutation { createUser(input: { name: "ghosty", password: "long-enough-pw", roles: [{ repo: "nope", role: VIEWER }] }) { __typename ... on NotFoundError { entity } } }`);
  assert.equal(ghostRepo.createUser.entity, 'repo');
  const badId = await ok(`mutation { unlockUser(input: { user: "Build:1" }) { __typename ... on InvalidInputError { field } } }`);
  assert.equal(badId.unlockUser.field, 'user');
  const missing = await ok(`mutation { unlockUser(input: { user: "999999" }) { __typename ... on NotFoundError { entity } } }`);
  assert.equal(missing.unlockUser.entity, 'user');
  const huge = await signIn('a'.repeat(5000), 'b'.repeat(5000));
  assert.equal(huge.reason, 'BAD_CREDENTIALS');
  assert.equal(await s.services.prisma.user.count(), before);
});

test('fmd user create makes an account with no token; the last admin cannot be demoted', async () => {
  const env = { DATABASE_URL: s.dbUrl, FMD_DATA_DIR: s.config.dataDir, FMD_SECRET: s.secret };
  const pw = path.join(mkdtempSync(path.join(os.tmpdir(), 'fmd-pw-')), 'password');
  writeFileSync(pw, 'ops-password-1\n');
  const made = await runFmd(['user', 'create', 'ops', '--admin', '--role', 'main:VIEWER', '--password-file', pw], env);
  assert.equal(made.code, 0, showRun(made));
  const ops = await signIn('ops', 'ops-password-1');
  assert.equal(ops.__typename, 'SignInPayload');
  const users = await ok('{ users(first: 100) { edges { node { name } } } }', {}, ops.accessToken);
  assert.ok(users.users.edges.length > 3, 'an admin user sees everyone');
  const usage = await runFmd(['user', 'create', 'x', '--role', 'main:KING', '--password-file', pw], env);
  assert.equal(usage.code, 2, showRun(usage));
  const me = (await ok('{ viewer { user { id } } }')).viewer.user.id;
  const self = await ok(`mutation($u: ID!) { updateUser(input: { user: $u, isAdmin: false }) { __typename ... on InvalidInputError { message } } }`, { u: me });
  assert.equal(self.updateUser.__typename, 'InvalidInputError');
});

test("roles on two repos with two prefixes do not combine: another role's prefix shows nothing of this repo's apps", async () => {
  await createUser('hank', [
    { repo: 'main', prefix: 'org.a', role: 'VIEWER' },
    { repo: 'other', prefix: 'org.b', role: 'VIEWER' },
  ]);
  const repos = await s.services.prisma.repo.findMany({ where: { name: { in: ['main', 'other'] } } });
  const day = new Date(new Date().toISOString().slice(0, 10));
  for (const repo of repos) {
    for (const appId of ['org.a.App', 'org.b.App']) {
      await s.services.prisma.downloadStat.create({ data: { day, repoId: repo.id, ref: `app/${appId}/x86_64/stable`, appId, kind: 'INSTALL', count: 1 } });
    }
  }
  const t = (await signIn('hank', 'hank-password-1')).accessToken;
  const seen = async (repo: string) => (await ok(`query($r: String!) { downloadStats(repo: $r) { refs { appId } } }`, { r: repo }, t)).downloadStats.refs.map((r: any) => r.appId);
  assert.deepEqual(await seen('main'), ['org.a.App']);
  assert.deepEqual(await seen('other'), ['org.b.App']);
  const all = await ok('{ downloadStats(repo: "main") { refs { appId } } }');
  assert.equal(all.downloadStats.refs.length, 2, 'an admin sees both');
});
