// The authorization matrix: who may do what, as one hand-written table, run against every kind
// of caller through the real interfaces (GraphQL over HTTP, subscriptions over a real WebSocket,
// the flat-manager REST API, repo and build-repo files, the dashboard, metrics and health checks).
//
// The table must cover every root field of the schema (Query, Mutation, Subscription), every
// type implementing Node and every route the express app registers: a new one without a row
// fails this test. The policy: one visibility rule per type, used by every way in (what a caller
// may not see is null / empty / 404, never an error that says it exists), flat-manager's scope,
// sub, prefix and repo rules, and the schema's own descriptions. Each case is checked
// precisely: allowed (with what the caller may see), or refused in the way the row says
// (unauthenticated, forbidden, or hidden as null / empty / not found), and a refused mutation
// must change nothing. Every wrong case is collected and printed, one line each, before failing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { createClient, type Client } from 'graphql-ws';
import { createHmac } from 'node:crypto';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { testBuilds, type Builds } from './kit/repo-fixtures.ts';
import { APP_ID, PLATFORM_ID } from './kit/flatpak-fixtures.ts';
import { FlatManagerClient } from './kit/flat-manager-client.ts';
import { listRoutes } from './kit/routes.ts';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';
import * as ostree from '../src/ostree/ostree.ts';

// --- callers ---------------------------------------------------------------------------------

const fmScopes = ['jobs', 'build', 'upload', 'publish', 'generate', 'download', 'republish', 'reviewcheck', 'tokenmanagement'] as const;
const allScopes = [...fmScopes, 'admin'] as const;
type Scope = (typeof allScopes)[number];

type Caller = {
  name: string;
  token: string | null;
  /** false: no token, or one that must be rejected (expired, revoked) */
  valid: boolean;
  scopes: readonly Scope[];
  repos: readonly string[];
  prefixes: readonly string[];
  apps: readonly string[];
  /** the token's jti, when it has one */
  jti?: string;
  /** a user's token, bound by the user's role (scopes, repos and prefixes above are the role's) */
  roleBound?: true;
  /** the access token of a password sign-in */
  session?: true;
  /** the user owning the token (the admin user owns the plain tokens here) */
  user?: string;
};

// flat-manager's matching rules, written out here so the table does not lean on the code it checks:
// repos [""] match every repo and [] none; a prefix matches the id and the ids below it.
const repoCovered = (c: Caller, repo: string) => c.repos.some((r) => r === '' || r === repo);
const appCovered = (c: Caller, id: string) => c.apps.includes(id) || c.prefixes.some((p) => p === '' || id === p || id.startsWith(`${p}.`));
/** fmd's admin: `admin` on every repo and app id, bound by no role (a repo admin's `admin` is its repos' settings). */
const isAdmin = (c: Caller) => c.scopes.includes('admin') && c.repos.includes('') && c.prefixes.includes('') && !c.roleBound;

// --- the policy table ------------------------------------------------------------------------

type Refusal = 'unauthenticated' | 'forbidden' | 'hidden';
type Got = { kind: Refusal | 'allowed' | 'unexpected'; detail: string };

type Rule = {
  /** anyone, with or without a (valid) token */
  public?: true;
  /** one of these scopes; omitted: any valid token */
  scopes?: readonly Scope[];
  /** every one of these repos must be covered by the token's repos */
  repos?: readonly string[];
  /** every one of these ids must be covered by the token's prefixes or apps */
  apps?: readonly string[];
  /** a further condition on the caller, named for the failure output */
  also?: { test: (c: Caller) => boolean; why: string };
  /** how a missing, expired or revoked token is refused (default: unauthenticated) */
  invalid?: readonly Refusal[];
  /** how a valid token without the scope is refused (default: forbidden) */
  noScope?: readonly Refusal[];
  /** how a token whose repos, prefixes or `also` do not cover the target is refused (default: forbidden or hidden) */
  outside?: readonly Refusal[];
  /** a password sign-in: 'only' these callers (others forbidden); 'also' these whatever their scopes */
  signedIn?: 'only' | 'also';
};

type Phase = 'read' | 'write' | 'subscribe';

type Row = {
  /** `Query.build`, `Node.Build`, `GET /api/v1/build/:id`, `USE /repo/*` */
  key: string;
  /** what the probe does, when a key has several */
  probe: string;
  rule: Rule;
  phase: Phase;
  run(c: Caller): Promise<Got>;
  /** write rows: run before the refused probes (e.g. per-caller targets) */
  setup?(): Promise<void>;
  /** write rows: after the allowed probes, what must now be true */
  afterAllowed?(): Promise<string | null>;
};

function expected(rule: Rule, c: Caller): 'allowed' | readonly Refusal[] {
  if (rule.public) return 'allowed';
  if (!c.valid) return rule.invalid ?? ['unauthenticated'];
  if (rule.signedIn === 'only' && !c.session) return rule.noScope ?? ['forbidden'];
  // `admin` for a rule with no repos is fmd's; for one naming repos, those repos' administration.
  const holds = (sc: Scope) => c.scopes.includes(sc) && (sc !== 'admin' || isAdmin(c) || rule.repos !== undefined);
  const sessionPasses = rule.signedIn === 'also' && c.session;
  if (rule.scopes && !sessionPasses && !rule.scopes.some(holds)) return rule.noScope ?? ['forbidden'];
  const outside = rule.repos?.some((r) => !repoCovered(c, r)) || rule.apps?.some((a) => !appCovered(c, a)) || (rule.also && !rule.also.test(c));
  if (outside) return rule.outside ?? ['forbidden', 'hidden'];
  return 'allowed';
}

const allowed = (detail = ''): Got => ({ kind: 'allowed', detail });
const unexpected = (detail: string): Got => ({ kind: 'unexpected', detail });
const clip = (v: unknown, n = 160) => {
  const t = (typeof v === 'string' ? v : JSON.stringify(v))?.replace(/\s+/g, ' ').trim();
  return t === undefined ? String(v) : t.length > n ? `${t.slice(0, n)}…` : t;
};
const sameSet = (a: Iterable<unknown>, b: Iterable<unknown>) => {
  const x = [...new Set(a)].map(String).sort();
  const y = [...new Set(b)].map(String).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};
const fmtSet = (a: Iterable<unknown>) => `[${[...a].map(String).sort().join(', ')}]`;

// --- fixtures --------------------------------------------------------------------------------

let s: TestServer;
let b: Builds;
const callers: Caller[] = [];
/** wrong cases, each with its place in the table (row, caller) so the output reads row by row */
const failures: Array<{ at: [number, number]; line: string }> = [];
let table: Row[] = [];
const fail = (row: Row | null, c: Caller | null, line: string) => failures.push({ at: [row ? table.indexOf(row) : -1, c ? callers.indexOf(c) : -1], line });
let cases = 0;

type BuildFixture = { id: number; repo: string; appId: string | null };
const fx = {
  keys: {} as Record<'main' | 'spare' | 'doomed', { id: string }>,
  /** active repos when the read phase runs */
  repos: ['main', 'child', 'other', 'doomed'],
  /** builds when the read phase runs */
  builds: [] as BuildFixture[],
  b1: 0,
  b1Ref: 0,
  mainNoApp: 0,
  otherBuild: 0,
  purgeGql: 0,
  purgeRest: 0,
  privateBuild: 0,
  /** a build set of one git build of main (org.test.Hello) for an arch no worker builds: it waits, quietly */
  setBuild: 0,
  commitJob: 0,
  appCommitInMain: '',
  /** the .flatpak bundle of org.test.Hello (token type 1) published in main, made */
  bundle: 0,
  runtimeCommitInMain: '',
  victimList: { jti: '', token: '' },
  victimGqlRevoke: { jti: '', token: '' },
  victimRestRevoke: { jti: '', token: '' },
  ids: {} as Record<
    'ApiToken' | 'AuditEntry' | 'Build' | 'BuildSet' | 'Job' | 'Repo' | 'SigningKey' | 'User' | 'GitCredential' | 'GitSource' | 'Webhook' | 'WebhookDelivery' | 'RoleGrant' | 'Session' | 'Invite',
    string
  >,
  adminUserId: '',
};

/** Git credentials and git sources of main (all for org.test.Hello), registered by the admin. */
const hx = {
  credential: { id: '', number: 0 },
  source: { id: '', number: 0, secret: '' },
  /** rotateGitSourceSecret's target: its secret changes, the webhook rows' source keeps its own */
  rotating: '',
  /** a build started by a signed push to `source` */
  pushedBuild: 0,
  /** per caller: a credential and a source only deleteGitCredential / deleteGitSource of that caller touch */
  doomedCredential: new Map<Caller, string>(),
  doomedSource: new Map<Caller, string>(),
};

/**
 * Webhooks of main (admins only). Their URL refuses connections and webhook-attempts is 1, so a
 * delivery fails at once and for good; they subscribe to repo.fsck_failed only, which nothing
 * here fires, so no other row's change queues deliveries behind the snapshots.
 */
const wx = {
  hook: { id: '', number: 0 },
  delivery: '',
  /** per caller: a webhook only that caller's deleteWebhook probe deletes, and a failed delivery only its redelivery sends */
  doomed: new Map<Caller, string>(),
  failed: new Map<Caller, string>(),
};
const deadUrl = 'http://127.0.0.1:9/matrix-hook';

async function createWebhook(description: string): Promise<{ id: string; number: number }> {
  const d = await gqlOk(
    `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { __typename ... on CreateWebhookPayload { webhook { id number } } ... on Error { message } } }`,
    { input: { repo: 'main', url: deadUrl, events: ['repo.fsck_failed'], description } },
  );
  assert.equal(d.createWebhook.__typename, 'CreateWebhookPayload', JSON.stringify(d.createWebhook));
  return d.createWebhook.webhook;
}

/** A ping delivery of the matrix webhook, once it has failed (so it may be redelivered). */
async function failedDelivery(): Promise<string> {
  const d = await gqlOk(`mutation($id: ID!) { testWebhook(input: { id: $id }) { __typename ... on TestWebhookPayload { delivery { id number } } ... on Error { message } } }`, { id: wx.hook.id });
  assert.equal(d.testWebhook.__typename, 'TestWebhookPayload', JSON.stringify(d.testWebhook));
  const { id, number } = d.testWebhook.delivery;
  await pollFor(async () => (await s.services.prisma.webhookDelivery.findUnique({ where: { id: number } }))?.state === 'FAILED', 30_000, 50);
  return id;
}

async function createGitCredential(name: string): Promise<{ id: string; number: number }> {
  const d = await gqlOk(
    `mutation($n: String!) { createGitCredential(input: { repo: "main", name: $n, kind: HTTPS_TOKEN, secret: "matrix-token-value" }) { __typename ... on GitCredentialPayload { gitCredential { id number } } ... on Error { message } } }`,
    { n: name },
  );
  assert.equal(d.createGitCredential.__typename, 'GitCredentialPayload', JSON.stringify(d.createGitCredential));
  return d.createGitCredential.gitCredential;
}

async function registerGitSource(branch: string, credential?: string): Promise<{ id: string; number: number; secret: string }> {
  const d = await gqlOk(
    `mutation($input: RegisterGitSourceInput!) { registerGitSource(input: $input) { __typename ... on RegisterGitSourcePayload { secret gitSource { id number } } ... on Error { message } } }`,
    { input: { repo: 'main', url: 'https://git.invalid/matrix/app.git', branch, appId: APP_ID, ...(credential ? { credential } : {}) } },
  );
  assert.equal(d.registerGitSource.__typename, 'RegisterGitSourcePayload', JSON.stringify(d.registerGitSource));
  return { ...d.registerGitSource.gitSource, secret: d.registerGitSource.secret };
}

async function gqlOk(query: string, variables?: Record<string, unknown>, token: string | null = s.adminToken): Promise<any> {
  const r = await s.gql(query, variables, token);
  assert.ok(!r.body.errors, `${query.slice(0, 80)}: ${JSON.stringify(r.body.errors)}`);
  return r.body.data;
}

async function mintToken(name: string, input: Record<string, unknown>, token: string = s.adminToken): Promise<{ token: string; jti: string }> {
  const d = await gqlOk(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token apiToken { tokenId } } ... on Error { message } } }`,
    { input: { name, durationSeconds: 3600, ...input } },
    token,
  );
  assert.equal(d.createToken.__typename, 'CreateTokenPayload', `minting ${name}: ${JSON.stringify(d.createToken)}`);
  return { token: d.createToken.token, jti: d.createToken.apiToken.tokenId };
}

/** A token minted by another flat-manager with the shared secret, with a row in fmd once it was seen. */
async function externalToken(name: string): Promise<{ token: string; jti: string }> {
  const jti = randomUUID();
  const token = await signClaims(
    { sub: '', scope: ['download'], prefixes: [''], apps: [], repos: [''], exp: Math.floor(Date.now() / 1000) + 3600, name, jti },
    secretKey(s.secret),
  );
  await gqlOk('{ viewer { tokenId } }', {}, token);
  await pollFor(async () => (await gqlOk('query($t: Boolean) { tokens(first: 100, includeRevoked: $t) { edges { node { tokenId } } } }', { t: true })).tokens.edges.some((e: any) => e.node.tokenId === jti), 10_000, 50);
  return { token, jti };
}

/** Ids behind the user rows. */
const ux = { viewerGrant: '', viewerSession: '', target: '', targetGrant: '', targetSession: '', doomed: '', invite: '', doomedInvite: '' };

async function signInAs(user: string): Promise<{ accessToken: string; jti: string; sessionId: string }> {
  const d = await gqlOk(`mutation($u: String!, $p: String!) { signIn(input: { username: $u, password: $p }) { __typename ... on SignInPayload { accessToken session { id } } ... on Error { message } } }`, { u: user, p: `${user}-password` }, null);
  assert.equal(d.signIn.__typename, 'SignInPayload', JSON.stringify(d));
  const jti = (await gqlOk('{ viewer { tokenId } }', {}, d.signIn.accessToken)).viewer.tokenId;
  return { accessToken: d.signIn.accessToken, jti, sessionId: d.signIn.session.id };
}

async function createRepo(input: Record<string, unknown>): Promise<void> {
  const d = await gqlOk(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, { input });
  assert.equal(d.createRepo.__typename, 'RepoPayload', JSON.stringify(d.createRepo));
}

async function generateKey(name: string): Promise<{ id: string }> {
  const d = await gqlOk(`mutation($n: String!) { generateKey(input: { name: $n, email: "matrix@example.org" }) { ... on KeyPayload { key { id } } } }`, { n: name });
  return d.generateKey.key;
}

async function seed(): Promise<void> {
  b = await testBuilds();
  fx.keys.main = await generateKey('matrix main key');
  fx.keys.spare = await generateKey('matrix spare key');
  fx.keys.doomed = await generateKey('matrix doomed key');
  // main: signed, its token-type-1 refs need a download token; child: promoted from main.
  await createRepo({ name: 'main', collectionId: 'org.fmd.matrix.Main', keyId: fx.keys.main.id, authRequiredTokenTypes: [1] });
  await createRepo({ name: 'child', collectionId: 'org.fmd.matrix.Child', keyId: fx.keys.main.id, parent: 'main' });
  await createRepo({ name: 'other', collectionId: 'org.fmd.matrix.Other' });
  await createRepo({ name: 'doomed', collectionId: 'org.fmd.matrix.Doomed' });

  // A published build with refs, as flat-manager-client pushes it, committed with token type 1.
  const client = new FlatManagerClient(s.url, s.adminToken);
  const build = await client.createBuild('main', APP_ID);
  const runtimeRefs: Record<string, string> = {};
  for (const ref of b.runtimeRefs) runtimeRefs[ref] = (await ostree.revParse(b.runtimeRepo, ref))!;
  await client.push(build.url, b.runtimeRepo, runtimeRefs);
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  for (const what of ['commit', 'publish'] as const) {
    const started = await client.startJob(build.url, what, what === 'commit' ? { token_type: 1 } : {});
    assert.equal(started.response.status, 200, started.response.text);
    const done = await client.waitForJob(started.url, 180_000);
    assert.equal(done.job.status, 2, done.log);
    if (what === 'publish') {
      const update = await client.waitForJob(`${s.url}/api/v1/job/${JSON.parse(done.job.results)['update-repo-job']}`, 180_000);
      assert.equal(update.job.status, 2, update.log);
    } else {
      fx.commitJob = done.job.id;
    }
  }
  fx.b1 = build.id;
  const published = (await gqlOk('query($n: Int!) { build(number: $n) { refs { number name } publishedRefs { ref commit } } }', { n: fx.b1 })).build;
  fx.b1Ref = published.refs.find((r: any) => r.name === b.app.ref).number;
  const inMain = Object.fromEntries(published.publishedRefs.map((r: any) => [r.ref, r.commit]));
  fx.appCommitInMain = inMain[b.app.ref];
  fx.runtimeCommitInMain = inMain[Object.keys(runtimeRefs).find((r) => r.startsWith(`runtime/${PLATFORM_ID}/`))!];
  assert.ok(fx.appCommitInMain && fx.runtimeCommitInMain, JSON.stringify(published));
  // Downloads of both refs in main (as fmd counts them when it serves /repo/), for downloadStats.
  for (const c of [fx.appCommitInMain, fx.runtimeCommitInMain]) assert.ok(s.services.downloadStats.record('main', `objects/${c.slice(0, 2)}/${c.slice(2)}.commit`));
  await s.services.downloadStats.flush();

  // Its bundle, made once here: the rows below read and download it.
  const seeder = await mintToken('matrix bundle seeder', { scopes: ['download'], repos: ['main'], prefixes: [''] });
  const asked = await gqlOk(`mutation($r: String!) { requestBundle(input: { repo: "main", ref: $r }) { __typename ... on RequestBundlePayload { bundle { number } } ... on Error { message } } }`, { r: b.app.ref }, seeder.token);
  assert.equal(asked.requestBundle.__typename, 'RequestBundlePayload', JSON.stringify(asked));
  fx.bundle = asked.requestBundle.bundle.number;
  await pollFor(async () => (await s.services.prisma.bundle.findUnique({ where: { id: fx.bundle } }))?.state === 'READY', 180_000, 100);

  fx.mainNoApp = (await client.createBuild('main')).id;
  fx.otherBuild = (await client.createBuild('other')).id; // no app id: public download
  fx.purgeGql = (await client.createBuild('main', APP_ID)).id;
  fx.purgeRest = (await client.createBuild('main', APP_ID)).id;
  // The publish moved B1's commits on and removed its build repo: this one keeps an upload repo to serve.
  fx.privateBuild = (await client.createBuild('main', APP_ID)).id;
  fx.builds = [
    { id: fx.b1, repo: 'main', appId: APP_ID },
    { id: fx.mainNoApp, repo: 'main', appId: null },
    { id: fx.otherBuild, repo: 'other', appId: null },
    { id: fx.purgeGql, repo: 'main', appId: APP_ID },
    { id: fx.purgeRest, repo: 'main', appId: APP_ID },
    { id: fx.privateBuild, repo: 'main', appId: APP_ID },
  ];
  const set = await gqlOk(
    `mutation($input: CreateBuildSetInput!) { createBuildSet(input: $input) { __typename ... on Error { message } ... on CreateBuildSetPayload { buildSet { id } builds { build { number } } } } }`,
    { input: { repo: 'main', name: 'matrix set', builds: [{ key: 'only', appId: APP_ID, git: { url: 'https://git.invalid/matrix/set.git', arch: 'nowhere', autoCommit: false } }] } },
  );
  assert.equal(set.createBuildSet.__typename, 'CreateBuildSetPayload', JSON.stringify(set.createBuildSet));
  fx.setBuild = set.createBuildSet.builds[0].build.number;
  fx.ids.BuildSet = set.createBuildSet.buildSet.id;
  fx.builds.push({ id: fx.setBuild, repo: 'main', appId: APP_ID });

  // Tokens nobody but an admin may see: minted by another flat-manager, owned by no user here.
  fx.victimList = await externalToken('victim (listed)');
  fx.victimGqlRevoke = await externalToken('victim (revokeTokens)');
  fx.victimRestRevoke = await externalToken('victim (tokens/revoke)');

  // The callers.
  const all = { repos: [''], prefixes: [''], apps: [] as string[] };
  callers.push({ name: 'no token', token: null, valid: false, scopes: [], repos: [], prefixes: [], apps: [] });
  // Their WebSockets are opened while the tokens are still good: every operation on them after
  // the expiry or the revocation must be refused.
  const expiring = await mintToken('matrix expired', { scopes: [...allScopes], durationSeconds: 12 });
  const revoked = await mintToken('matrix revoked', { scopes: [...allScopes] });
  const expired: Caller = { name: 'expired token', token: expiring.token, jti: expiring.jti, valid: false, scopes: [...allScopes], ...all };
  callers.push(expired, { name: 'revoked token', token: revoked.token, jti: revoked.jti, valid: false, scopes: [...allScopes], ...all });
  await openSocketsNow(expired);
  assert.equal(await openSocketsNow(callers.at(-1)!), subscriptionCount, "the revoked token's sockets");
  await gqlOk('mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename } }', { ids: [revoked.jti] });
  const narrow: Array<[string, Record<string, unknown>, Omit<Caller, 'name' | 'token' | 'valid' | 'scopes' | 'jti'>]> = [
    ['token for another repo', { repos: ['other'] }, { repos: ['other'], prefixes: [''], apps: [] }],
    ['token for another prefix', { prefixes: ['org.other'] }, { repos: [''], prefixes: ['org.other'], apps: [] }],
    ['token with repos []', { repos: [] }, { repos: [], prefixes: [''], apps: [] }],
  ];
  for (const [name, input, claims] of narrow) {
    const t = await mintToken(`matrix ${name}`, { scopes: [...fmScopes], ...input });
    callers.push({ name, token: t.token, jti: t.jti, valid: true, scopes: [...fmScopes], ...claims });
  }
  for (const scope of allScopes) {
    const t = await mintToken(`matrix ${scope}`, { scopes: [scope] });
    callers.push({ name: `scope ${scope} alone`, token: t.token, jti: t.jti, valid: true, scopes: [scope], ...all });
  }
  for (const c of callers) if (c.valid) c.user = 'admin';
  // Users with one role each, signed in with a password: on main, and a publisher of child (whose
  // promotion parent main grants it nothing). Their claims here are their role's.
  const roleScopes: Record<string, Scope[]> = {
    VIEWER: ['download'],
    UPLOADER: ['download', 'build', 'upload', 'jobs'],
    PUBLISHER: ['download', 'build', 'upload', 'jobs', 'publish', 'republish', 'reviewcheck'],
    REPO_ADMIN: ['download', 'build', 'upload', 'jobs', 'publish', 'republish', 'reviewcheck', 'generate', 'tokenmanagement', 'admin'],
  };
  const roleUsers: Array<[string, string, string]> = [
    ['mx-viewer', 'main', 'VIEWER'],
    ['mx-uploader', 'main', 'UPLOADER'],
    ['mx-publisher', 'main', 'PUBLISHER'],
    ['mx-repo-admin', 'main', 'REPO_ADMIN'],
    ['mx-child-publisher', 'child', 'PUBLISHER'],
  ];
  for (const [user, repo, role] of roleUsers) {
    const made = await gqlOk(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on CreateUserPayload { user { id roles { id } } } ... on Error { message } } }`, {
      input: { name: user, password: `${user}-password`, roles: [{ repo, role }] },
    });
    assert.equal(made.createUser.__typename, 'CreateUserPayload', JSON.stringify(made));
    const t = await signInAs(user);
    callers.push({ name: `user: ${role} of ${repo}`, token: t.accessToken, jti: t.jti, valid: true, scopes: roleScopes[role]!, repos: [repo], prefixes: [''], apps: [], roleBound: true, session: true, user });
    if (user === 'mx-viewer') {
      ux.viewerGrant = made.createUser.user.roles[0].id;
      ux.viewerSession = t.sessionId;
    }
  }
  // A token a publisher minted, after the user was lowered to viewer: it keeps only the viewer's rights.
  const lowered = await gqlOk(`mutation { createUser(input: { name: "mx-lowered", password: "mx-lowered-password", roles: [{ repo: "main", role: PUBLISHER }] }) { ... on CreateUserPayload { user { id } } } }`);
  const minted = await mintToken('mx publisher token', { scopes: roleScopes.PUBLISHER, repos: ['main'] }, (await signInAs('mx-lowered')).accessToken);
  await gqlOk(`mutation($u: ID!) { grantRole(input: { user: $u, repo: "main", role: VIEWER }) { __typename } }`, { u: lowered.createUser.user.id });
  callers.push({ name: 'token of a publisher lowered to viewer', token: minted.token, jti: minted.jti, valid: true, scopes: roleScopes.VIEWER!, repos: ['main'], prefixes: [''], apps: [], roleBound: true, user: 'mx-lowered' });
  // Targets of the user rows: a user, a user that may be deleted, a grant that may be revoked, a session and an invite.
  const target = await gqlOk(`mutation { createUser(input: { name: "mx-target", password: "mx-target-password", roles: [{ repo: "other", role: VIEWER }] }) { ... on CreateUserPayload { user { id roles { id } } } } }`);
  ux.target = target.createUser.user.id;
  ux.targetGrant = target.createUser.user.roles[0].id;
  ux.doomed = (await gqlOk(`mutation { createUser(input: { name: "mx-doomed" }) { ... on CreateUserPayload { user { id } } } }`)).createUser.user.id;
  ux.targetSession = (await signInAs('mx-target')).sessionId;
  const invite = await gqlOk(`mutation { createInvite(input: { roles: [{ repo: "main", role: VIEWER }] }) { ... on CreateInvitePayload { invite { id } } } }`);
  ux.invite = invite.createInvite.invite.id;
  ux.doomedInvite = (await gqlOk(`mutation { createInvite(input: {}) { ... on CreateInvitePayload { invite { id } } } }`)).createInvite.invite.id;

  const adminJti = (await gqlOk('{ viewer { tokenId } }')).viewer.tokenId;
  callers.push({ name: 'admin (full)', token: s.adminToken, jti: adminJti, valid: true, scopes: [...allScopes], ...all, user: 'admin' });
  await pollFor(async () => (await s.gql('{ viewer { name } }', {}, expiring.token)).body.errors?.[0]?.extensions?.reason === 'expired', 30_000, 100);

  // Global ids of one node of each type.
  const ids = await gqlOk(
    `query($b: Int!, $j: Int!, $k: ID!) { build(number: $b) { id } job(number: $j) { id } repo(name: "main") { id } key(id: $k) { id }
       viewer { user { id } } tokens(first: 100) { edges { node { id tokenId } } } auditLog(first: 1) { edges { node { id } } } }`,
    { b: fx.b1, j: fx.commitJob, k: fx.keys.main.id },
  );
  hx.credential = await createGitCredential('matrix credential');
  hx.source = await registerGitSource('main', hx.credential.id);
  hx.rotating = (await registerGitSource('rotating')).id;
  // A build a push started (its source is unreachable: it fails to clone, and is over before the table runs).
  const push = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'b'.repeat(40) }));
  const pushed = await fetch(`${s.url}/api/v1/hooks/git/${hx.source.number}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', hx.source.secret).update(push).digest('hex')}` },
    body: new Uint8Array(push),
  });
  const pushedBody = (await pushed.json()) as any;
  assert.equal(pushed.status, 200, JSON.stringify(pushedBody));
  hx.pushedBuild = pushedBody.build;
  await pollFor(async () => (await s.services.prisma.build.findUnique({ where: { id: hx.pushedBuild } }))?.state === 'FAILED', 120_000, 100);
  await waitForJobs();
  fx.builds.push({ id: hx.pushedBuild, repo: 'main', appId: APP_ID });
  wx.hook = await createWebhook('matrix webhook');
  wx.delivery = await failedDelivery();
  fx.ids = {
    ...fx.ids,
    GitCredential: hx.credential.id,
    GitSource: hx.source.id,
    Build: ids.build.id,
    Job: ids.job.id,
    Repo: ids.repo.id,
    SigningKey: ids.key.id,
    User: ids.viewer.user.id,
    ApiToken: ids.tokens.edges.find((e: any) => e.node.tokenId === fx.victimList.jti).node.id,
    AuditEntry: ids.auditLog.edges[0].node.id,
    Webhook: wx.hook.id,
    WebhookDelivery: wx.delivery,
    RoleGrant: ux.viewerGrant,
    Session: ux.viewerSession,
    Invite: ux.invite,
  };
}

// --- probes ----------------------------------------------------------------------------------

function gqlRefusal(errors: any[]): Got {
  const e = errors[0] ?? {};
  const code = e.extensions?.code;
  if (code === 'UNAUTHENTICATED') return { kind: 'unauthenticated', detail: e.message };
  if (code === 'FORBIDDEN') return { kind: 'forbidden', detail: e.message };
  if (code === 'NOT_FOUND') return { kind: 'hidden', detail: e.message };
  return unexpected(code ? `error ${code}: ${clip(e.message)}` : `refused without an error code: ${clip(e.message)}`);
}

async function gql(c: Caller, query: string, variables: Record<string, unknown> = {}): Promise<{ data: any; errors?: any[] }> {
  const r = await s.gql(query, variables, c.token);
  return { data: r.body.data, errors: r.body.errors };
}

/** A query field: errors are refusals; `check` classifies the data (allowed, hidden, or wrong). */
function queryProbe(query: string, variables: () => Record<string, unknown>, check: (data: any, c: Caller) => Got): (c: Caller) => Promise<Got> {
  return async (c) => {
    const r = await gql(c, query, variables());
    if (r.errors?.length) return gqlRefusal(r.errors);
    return check(r.data, c);
  };
}

/** A mutation: `allowedTypes` are the result members that show the rule let the caller through. */
function mutationProbe(field: string, query: string, variables: (c: Caller) => Record<string, unknown> | Promise<Record<string, unknown>>, allowedTypes: readonly string[]): (c: Caller) => Promise<Got> {
  return async (c) => {
    const r = await gql(c, query, await variables(c));
    if (r.errors?.length) return gqlRefusal(r.errors);
    const res = r.data?.[field];
    const t = res?.__typename;
    if (allowedTypes.includes(t)) return allowed(t);
    if (t === 'ForbiddenError') return { kind: 'forbidden', detail: res.message };
    if (t === 'NotFoundError') return { kind: 'hidden', detail: res.message };
    return unexpected(`${t}: ${clip(res?.message ?? res)}`);
  };
}

type HttpResult = { status: number; headers: http.IncomingHttpHeaders; body: any; text: string };

/** One request; an event stream is cut after its headers (the dashboard's /api/events never ends). */
function call(method: string, path: string, c: Caller, o: { json?: unknown; gzip?: boolean; body?: Buffer; contentType?: string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    let payload = o.body;
    if (o.json !== undefined) {
      payload = Buffer.from(JSON.stringify(o.json));
      headers['content-type'] = 'application/json';
      if (o.gzip) {
        payload = gzipSync(payload);
        headers['content-encoding'] = 'gzip';
      }
    }
    if (o.contentType) headers['content-type'] = o.contentType;
    if (payload) headers['content-length'] = String(payload.length);
    const req = http.request(`${s.url}${path}`, { method, headers, agent: false }, (res) => {
      if (String(res.headers['content-type'] ?? '').includes('text/event-stream')) {
        res.destroy();
        return resolve({ status: res.statusCode ?? 0, headers: res.headers, body: null, text: '' });
      }
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** 401/403/404 with flat-manager's error JSON are refusals; anything else goes to the row's check. */
function restRefusal(r: HttpResult): Got | null {
  const kinds: Record<number, [Refusal, string]> = { 401: ['unauthenticated', 'invalid-token'], 403: ['forbidden', 'token-insufficient'], 404: ['hidden', 'not-found'] };
  const k = kinds[r.status];
  if (!k) return null;
  const b = r.body;
  const fmJson = b && typeof b === 'object' && b.status === r.status && typeof b['error-type'] === 'string' && typeof b.message === 'string';
  if (!fmJson) return unexpected(`${r.status} without flat-manager's error JSON: ${clip(r.text, 100)}`);
  if (b['error-type'] !== k[1]) return unexpected(`${r.status} with error-type ${b['error-type']}: ${clip(b.message)}`);
  return { kind: k[0], detail: `${r.status} ${clip(b.message, 100)}` };
}

type RestCheck = (r: HttpResult, c: Caller) => Got | true;

function restProbe(method: string, path: () => string, o: { json?: (c: Caller) => unknown; gzip?: boolean; body?: Buffer; contentType?: string; headers?: () => Record<string, string> }, check: RestCheck): (c: Caller) => Promise<Got> {
  return async (c) => {
    const r = await call(method, path(), c, { json: o.json?.(c), gzip: o.gzip, body: o.body, contentType: o.contentType, headers: o.headers?.() });
    // A row's own check may read a 404 or 403 as success (e.g. review of a job that is no check).
    const own = check(r, c);
    if (own === true) return allowed(String(r.status));
    if (own.kind !== 'unexpected') return own;
    return restRefusal(r) ?? own;
  };
}

const status = (...codes: number[]): RestCheck => (r) => (codes.includes(r.status) ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`));
const flatManagerError = (code: number, errorType: string): RestCheck => (r) =>
  r.status === code && r.body?.['error-type'] === errorType ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`);
/** The dashboard: anything but a refusal or a server error shows the guard let the caller in. */
const dashboard: RestCheck = (r) => (r.status < 500 && r.status !== 401 && r.status !== 403 ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`));

// --- snapshots: what a refused mutation must leave alone --------------------------------------

async function snapshot(): Promise<Record<string, string>> {
  const p = s.services.prisma;
  const [builds, refs, repos, keys, tokens, jobs, promotions, checks, buildSets, gitCredentials, gitSources, webhooks, webhookDeliveries, users, roleGrants, sessions, invites] = await Promise.all([
    p.build.findMany({ orderBy: { id: 'asc' }, select: { id: true, state: true, publishedState: true, extraIds: true, buildLogUrl: true, appId: true, repoId: true } }),
    p.buildRef.findMany({ orderBy: { id: 'asc' }, select: { id: true, buildId: true, refName: true, commit: true } }),
    p.repo.findMany({
      where: { status: 'ACTIVE' },
      orderBy: { id: 'asc' },
      select: {
        name: true, title: true, keyId: true, previousKeyId: true, parentId: true, hooks: true, authRequiredTokenTypes: true, deltaSettings: true, autoPromote: true,
        purgeBuildsAfterDays: true, pruneIntervalSecs: true, fsckIntervalSecs: true, retentionDryRun: true,
      },
    }),
    p.signingKey.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true } }),
    p.apiToken.findMany({ orderBy: { id: 'asc' }, select: { jti: true, revokedAt: true } }),
    // update-repo jobs are queued in the background (debounced); every other kind only by a request.
    p.job.findMany({ where: { kind: { not: 'update-repo' } }, orderBy: { id: 'asc' }, select: { id: true, kind: true, cancelRequested: true } }),
    p.promotion.findMany({ orderBy: { id: 'asc' }, select: { id: true } }),
    p.check.findMany({ orderBy: { id: 'asc' }, select: { id: true, status: true } }),
    p.buildSet.findMany({ orderBy: { id: 'asc' }, select: { id: true } }),
    p.gitCredential.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true } }),
    // the sealed secret: a refused rotation must leave it alone
    p.gitSource.findMany({ orderBy: { id: 'asc' }, select: { id: true, webhookSecretEncrypted: true, disabledReason: true } }),
    p.webhook.findMany({ orderBy: { id: 'asc' }, select: { id: true, url: true, events: true, enabled: true, description: true, secretEncrypted: true } }),
    // (their state moves on in the background: a refused probe adds none)
    p.webhookDelivery.findMany({ orderBy: { id: 'asc' }, select: { id: true } }),
    p.user.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, displayName: true, email: true, isAdmin: true, disabled: true, passwordHash: true, lockedUntil: true } }),
    p.roleGrant.findMany({ orderBy: { id: 'asc' }, select: { id: true, userId: true, repo: true, prefix: true, role: true } }),
    p.userSession.findMany({ orderBy: { id: 'asc' }, select: { id: true, endedAt: true } }),
    p.invite.findMany({ orderBy: { id: 'asc' }, select: { id: true, usedAt: true } }),
  ]);
  const rows = { builds, refs, repos, keys, tokens, jobs, promotions, checks, buildSets, gitCredentials, gitSources, webhooks, webhookDeliveries, users, roleGrants, sessions, invites };
  return Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, JSON.stringify(v)]));
}

function diff(a: Record<string, string>, b: Record<string, string>): string | null {
  const changed = Object.keys(a).filter((k) => a[k] !== b[k]);
  if (!changed.length) return null;
  return changed
    .map((k) => {
      const before = JSON.parse(a[k]!) as unknown[];
      const after = JSON.parse(b[k]!) as unknown[];
      const was = new Set(before.map((x) => JSON.stringify(x)));
      const now = new Set(after.map((x) => JSON.stringify(x)));
      const added = [...now].filter((x) => !was.has(x));
      const removed = [...was].filter((x) => !now.has(x));
      return `${k}: +${clip(added.join(' '), 200)} -${clip(removed.join(' '), 200)}`;
    })
    .join('; ');
}

// --- the rows --------------------------------------------------------------------------------

const buildReaders = ['build', 'upload', 'download', 'admin'] as const;
const jobReaders = ['jobs', 'admin', 'build'] as const;
const tokenManagers = ['tokenmanagement', 'admin'] as const;
/** Nodes are refused by answering null, whatever the reason. */
const asNode = (r: Rule): Rule => ({ ...r, invalid: ['hidden', 'unauthenticated'], noScope: ['hidden'], outside: ['hidden'] });
const onlyAdmins = { test: isAdmin, why: 'only admins see tokens they did not derive' };
/** A user's jobs are those of the builds its role lets it read (main's here); plain tokens with `jobs` read all. */
const usersInMain = { test: (c: Caller) => !c.roleBound || repoCovered(c, 'main'), why: "a user reads the jobs of its role's repos" };
const ownedBy = (user: string) => ({ test: (c: Caller) => isAdmin(c) || c.user === user, why: `only ${user} and admins` });
/** Who manages a repo's git credentials and sources: tokens that may build into it, and admins. */
const gitManagers = ['build', 'admin'] as const;

const visibleBuilds = (c: Caller, list = fx.builds) =>
  list.filter((x) => c.scopes.some((sc) => (buildReaders as readonly string[]).includes(sc)) && repoCovered(c, x.repo) && (x.appId === null || appCovered(c, x.appId)));

/** The Node rule of each type: the same rule as its own top-level query. */
const nodeRules: Record<keyof typeof fx.ids, Rule> = {
  Build: asNode({ scopes: buildReaders, repos: ['main'], apps: [APP_ID] }),
  // visible to whoever may read one of its builds
  BuildSet: asNode({ scopes: buildReaders, repos: ['main'], apps: [APP_ID] }),
  Job: asNode({ scopes: jobReaders, also: usersInMain }),
  Repo: asNode({ repos: ['main'] }),
  SigningKey: asNode({}),
  // the admin user owns every plain caller's token here: each may see its own user (users see theirs)
  User: asNode({ also: { test: (c) => c.user === 'admin', why: 'a user sees its own user only' } }),
  // the viewer user's role and session: that user's and the admins'
  RoleGrant: asNode({ also: ownedBy('mx-viewer') }),
  Session: asNode({ also: ownedBy('mx-viewer') }),
  Invite: asNode({ scopes: ['admin'] }),
  ApiToken: asNode({ scopes: tokenManagers, also: onlyAdmins }),
  GitCredential: asNode({ scopes: gitManagers, repos: ['main'] }),
  GitSource: asNode({ scopes: gitManagers, repos: ['main'], apps: [APP_ID] }),
  // the audit log is the admins'
  AuditEntry: asNode({ scopes: ['admin'] }),
  // webhooks are repo settings: admins (a repo-restricted admin: its repos' webhooks)
  Webhook: asNode({ scopes: ['admin'], repos: ['main'] }),
  WebhookDelivery: asNode({ scopes: ['admin'], repos: ['main'] }),
};
const nodeFields: Record<keyof typeof fx.ids, string> = {
  Build: '... on Build { number }',
  BuildSet: '... on BuildSet { number }',
  Job: '... on Job { number }',
  Repo: '... on Repo { name }',
  SigningKey: '... on SigningKey { fingerprint }',
  User: '... on User { name }',
  ApiToken: '... on ApiToken { tokenId }',
  GitCredential: '... on GitCredential { name }',
  GitSource: '... on GitSource { branch }',
  AuditEntry: '... on AuditEntry { action }',
  Webhook: '... on Webhook { url }',
  WebhookDelivery: '... on WebhookDelivery { event }',
  RoleGrant: '... on RoleGrant { role }',
  Session: '... on Session { createdAt }',
  Invite: '... on Invite { expiresAt }',
};
const nodeTypes = Object.keys(nodeRules) as Array<keyof typeof fx.ids>;
const unknownNodeId = () => Buffer.from('SigningKey:987654321').toString('base64');

function rows(): Row[] {
  const out: Row[] = [];
  const add = (key: string, probe: string, phase: Phase, rule: Rule, run: Row['run'], extra: Partial<Row> = {}) => out.push({ key, probe, phase, rule, run, ...extra });

  // --- Query ---
  add('Query.viewer', 'viewer', 'read', {}, queryProbe('{ viewer { tokenId scopes } }', () => ({}), (d, c) =>
    d.viewer?.tokenId === c.jti && sameSet(d.viewer.scopes, c.scopes) ? allowed() : unexpected(`viewer ${clip(d.viewer)}`)));
  add('Query.repos', 'repos: exactly the covered repos', 'read', {}, queryProbe('{ repos(first: 100) { totalCount edges { node { name } } } }', () => ({}), (d, c) => {
    const names = d.repos.edges.map((e: any) => e.node.name);
    const want = fx.repos.filter((r) => isAdmin(c) || repoCovered(c, r));
    return sameSet(names, want) && d.repos.totalCount === want.length ? allowed() : unexpected(`repos ${fmtSet(names)} (totalCount ${d.repos.totalCount}), want ${fmtSet(want)}`);
  }));
  add('Query.repo', 'repo(name: main)', 'read', { repos: ['main'], outside: ['hidden'] }, queryProbe('{ repo(name: "main") { name } }', () => ({}), (d) =>
    d.repo === null ? { kind: 'hidden', detail: 'null' } : d.repo.name === 'main' ? allowed() : unexpected(clip(d.repo))));
  // The app catalog: main's appstream lists org.test.Hello (published with the fixture's composed appstream).
  const catalogCheck = (field: 'apps' | 'app') => (d: any): Got => {
    const v = d[field];
    if (v === null) return { kind: 'hidden', detail: 'null' };
    const ids = field === 'apps' ? v.map((a: any) => a.id) : [v.id];
    if (ids.includes(APP_ID)) return allowed();
    return field === 'apps' && ids.length === 0 ? { kind: 'hidden', detail: '[] (the app is hidden)' } : unexpected(clip(v));
  };
  add('Query.apps', 'apps(repo: main): org.test.Hello when the repo and the prefix are covered', 'read', { repos: ['main'], apps: [APP_ID], outside: ['hidden'] },
    queryProbe('{ apps(repo: "main") { id name } }', () => ({}), catalogCheck('apps')));
  add('Query.app', 'app(repo: main, id: org.test.Hello)', 'read', { repos: ['main'], apps: [APP_ID], outside: ['hidden'] },
    queryProbe(`{ app(repo: "main", id: "${APP_ID}") { id name } }`, () => ({}), catalogCheck('app')));
  add('Query.builds', 'builds: exactly the covered builds', 'read', { scopes: buildReaders }, queryProbe('{ builds(first: 100) { totalCount edges { node { number } } } }', () => ({}), (d, c) => {
    const got = d.builds.edges.map((e: any) => e.node.number);
    const want = visibleBuilds(c).map((x) => x.id);
    return sameSet(got, want) && d.builds.totalCount === want.length ? allowed() : unexpected(`builds ${fmtSet(got)} (totalCount ${d.builds.totalCount}), want ${fmtSet(want)}`);
  }));
  add('Query.build', 'build(number: B1) in main, org.test.Hello', 'read', { scopes: buildReaders, repos: ['main'], apps: [APP_ID], outside: ['hidden'] },
    queryProbe('query($n: Int!) { build(number: $n) { number } }', () => ({ n: fx.b1 }), (d) =>
      d.build === null ? { kind: 'hidden', detail: 'null' } : d.build.number === fx.b1 ? allowed() : unexpected(clip(d.build))));
  add('Query.bundle', 'bundle(the bundle of the app ref of main, token type 1)', 'read', { scopes: ['download'], repos: ['main'], apps: [APP_ID], noScope: ['hidden'], outside: ['hidden'] },
    queryProbe('query($n: Int!) { bundle(number: $n) { number url } }', () => ({ n: fx.bundle }), (d) =>
      d.bundle === null ? { kind: 'hidden', detail: 'null' } : d.bundle.number === fx.bundle && d.bundle.url === `/bundles/${fx.bundle}/${APP_ID}.flatpak` ? allowed() : unexpected(clip(d.bundle))));
  add('Query.repo', 'repo(main).refs.bundle: null unless the caller may download the app', 'read', { repos: ['main'], scopes: ['download'], apps: [APP_ID], noScope: ['hidden'], outside: ['hidden'] },
    queryProbe('query($r: String!) { repo(name: "main") { refs(prefix: $r) { edges { node { bundle { number } } } } } }', () => ({ r: b.app.ref }), (d) => {
      const got = d.repo?.refs.edges[0]?.node.bundle;
      return d.repo === null || got === null ? { kind: 'hidden', detail: 'null' } : got?.number === fx.bundle ? allowed() : unexpected(clip(d.repo));
    }));
  add('Query.build', 'build(B1).bundles: empty unless the caller may download B1 (published: its build repo is gone, so none)', 'read', { scopes: buildReaders, repos: ['main'], apps: [APP_ID], outside: ['hidden'] },
    queryProbe('query($n: Int!) { build(number: $n) { bundles { number } } }', () => ({ n: fx.b1 }), (d) =>
      d.build === null ? { kind: 'hidden', detail: 'null' } : Array.isArray(d.build.bundles) && d.build.bundles.length === 0 ? allowed() : unexpected(clip(d.build))));
  add('Query.buildStats', 'buildStats: counts exactly the covered builds', 'read', { scopes: buildReaders }, queryProbe('{ buildStats { total } }', () => ({}), (d, c) =>
    d.buildStats.total === visibleBuilds(c).length ? allowed() : unexpected(`total ${d.buildStats.total}, want ${visibleBuilds(c).length}`)));
  add('Query.downloadStats', 'downloadStats(repo: main): exactly the refs of the covered apps', 'read', { scopes: buildReaders, repos: ['main'], outside: ['hidden'] },
    queryProbe('{ downloadStats(repo: "main") { installs refs { appId installs } } }', () => ({}), (d, c) => {
      if (d.downloadStats === null) return { kind: 'hidden', detail: 'null' };
      const got = d.downloadStats.refs.map((r: any) => r.appId);
      const want = [APP_ID, PLATFORM_ID].filter((id) => isAdmin(c) || appCovered(c, id));
      return sameSet(got, want) ? allowed() : unexpected(`refs of ${fmtSet(got)}, want ${fmtSet(want)}`);
    }));
  add('Query.jobs', 'jobs (none at all: hidden)', 'read', { scopes: jobReaders, also: usersInMain }, queryProbe('{ jobs(first: 100) { totalCount edges { node { number } } } }', () => ({}), (d) =>
    d.jobs.edges.some((e: any) => e.node.number === fx.commitJob)
      ? allowed()
      : d.jobs.totalCount === 0
        ? { kind: 'hidden', detail: 'no jobs' }
        : unexpected(`jobs without the commit job: ${clip(d.jobs)}`)));
  add('Query.job', 'job(number: commit job of B1)', 'read', { scopes: jobReaders, also: usersInMain, outside: ['hidden'] }, queryProbe('query($n: Int!) { job(number: $n) { number } }', () => ({ n: fx.commitJob }), (d) =>
    d.job === null ? { kind: 'hidden', detail: 'null' } : d.job.number === fx.commitJob ? allowed() : unexpected(clip(d.job))));
  add('Query.keys', 'keys: every key (public halves)', 'read', {}, queryProbe('{ keys(first: 100) { edges { node { id } } } }', () => ({}), (d) => {
    const got = d.keys.edges.map((e: any) => e.node.id);
    const want = Object.values(fx.keys).map((k) => k.id);
    return want.every((k) => got.includes(k)) ? allowed() : unexpected(`keys ${fmtSet(got)}, want ${fmtSet(want)}`);
  }));
  add('Query.key', 'key(id: main key)', 'read', { outside: ['hidden'] }, queryProbe('query($k: ID!) { key(id: $k) { id } }', () => ({ k: fx.keys.main.id }), (d) =>
    d.key === null ? { kind: 'hidden', detail: 'null' } : d.key.id === fx.keys.main.id ? allowed() : unexpected(clip(d.key))));
  add('Query.auditLog', 'auditLog: admins only, every write recorded', 'read', { scopes: ['admin'] },
    queryProbe('{ auditLog(first: 5) { totalCount edges { node { action result } } } }', () => ({}), (d) =>
      d.auditLog.totalCount > 0 && d.auditLog.edges.length > 0 ? allowed() : unexpected(`auditLog ${clip(d.auditLog)}`)));
  add('Query.repo', "repo(main) { retention }: main's admins only", 'read', { scopes: ['admin'], repos: ['main'], noScope: ['forbidden', 'hidden'] },
    queryProbe('{ repo(name: "main") { name retention { dryRun scheduled { kind } lastRuns(first: 3) { number } } } }', () => ({}), (d) =>
      d.repo === null ? { kind: 'hidden', detail: 'null' } : typeof d.repo.retention?.dryRun === 'boolean' && d.repo.retention.scheduled.length === 3 ? allowed() : unexpected(clip(d.repo))));
  add('Query.tokens', 'tokens: admins all, others their own and derived', 'read', { scopes: tokenManagers, signedIn: 'also' }, queryProbe('{ tokens(first: 100) { edges { node { tokenId } } } }', () => ({}), (d, c) => {
    const got: string[] = d.tokens.edges.map((e: any) => e.node.tokenId);
    const victims = [fx.victimList.jti, fx.victimGqlRevoke.jti, fx.victimRestRevoke.jti];
    if (!got.includes(c.jti!)) return unexpected(`its own token is missing from ${got.length} tokens`);
    if (isAdmin(c)) return victims.every((v) => got.includes(v)) ? allowed() : unexpected('an admin does not see every token');
    const leaked = victims.filter((v) => got.includes(v));
    return leaked.length ? unexpected(`sees ${leaked.length} token(s) it did not derive (e.g. ${leaked[0]})`) : allowed();
  }));
  add('Query.tokens', 'tokens.parent: only a parent the caller may list (others by parentTokenId alone)', 'read', { scopes: tokenManagers, signedIn: 'also' },
    queryProbe('{ tokens(first: 100, includeRevoked: true) { edges { node { tokenId parentTokenId parent { tokenId } } } } }', () => ({}), (d, c) => {
      const nodes: { tokenId: string; parentTokenId: string | null; parent: { tokenId: string } | null }[] = d.tokens.edges.map((e: any) => e.node);
      const listed = new Set(nodes.map((n) => n.tokenId));
      const own = nodes.find((n) => n.tokenId === c.jti);
      if (!own) return unexpected('its own token is missing');
      for (const n of nodes) {
        if (n.parent && n.parent.tokenId !== n.parentTokenId) return unexpected(`${n.tokenId}: parent ${n.parent.tokenId} is not parentTokenId ${n.parentTokenId}`);
        if (n.parent && !listed.has(n.parent.tokenId)) return unexpected(`${n.tokenId}: shows parent ${n.parent.tokenId}, which it may not list`);
        if (!n.parent && n.parentTokenId && listed.has(n.parentTokenId)) return unexpected(`${n.tokenId}: parent ${n.parentTokenId} is listed but not shown`);
      }
      return allowed();
    }));
  add('Query.node', 'node(unknown id) is null', 'read', { invalid: ['hidden', 'unauthenticated'] }, queryProbe('query($id: ID!) { node(id: $id) { id } }', () => ({ id: unknownNodeId() }), (d, c) =>
    d.node === null ? (c.valid ? allowed('null') : { kind: 'hidden', detail: 'null' }) : unexpected(clip(d.node))));
  add('Query.nodes', 'nodes(one id of each Node type + an unknown id)', 'read', { invalid: ['hidden', 'unauthenticated'] },
    queryProbe(`query($ids: [ID!]!) { nodes(ids: $ids) { id ${nodeTypes.map((t) => nodeFields[t]).join(' ')} } }`, () => ({ ids: [...nodeTypes.map((t) => fx.ids[t]), unknownNodeId()] }), (d, c) => {
      const got: any[] = d.nodes;
      const wrong: string[] = [];
      nodeTypes.forEach((t, i) => {
        const visible = expected(nodeRules[t], c) === 'allowed';
        if (visible && got[i]?.id !== fx.ids[t]) wrong.push(`${t} missing`);
        if (!visible && got[i] !== null) wrong.push(`${t} visible`);
      });
      if (got[nodeTypes.length] !== null) wrong.push('unknown id not null');
      if (wrong.length) return unexpected(wrong.join(', '));
      return c.valid ? allowed() : { kind: 'hidden', detail: 'all null' };
    }));

  // --- Node types: node(id) resolves through the type's own visibility rule ---
  for (const t of nodeTypes) {
    add(`Node.${t}`, `node(id of a ${t})`, 'read', nodeRules[t], queryProbe(`query($id: ID!) { node(id: $id) { id } }`, () => ({ id: fx.ids[t] }), (d) =>
      d.node === null ? { kind: 'hidden', detail: 'null' } : d.node.id === fx.ids[t] ? allowed() : unexpected(clip(d.node))));
  }

  // --- Mutation ---
  const m = (field: string, input: string, selection = '') => `mutation($input: ${input}!) { ${field}(input: $input) { __typename ... on Error { message } ${selection} } }`;
  add('Mutation.createBuild', 'createBuild(main, org.test.Hello)', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('createBuild', m('createBuild', 'CreateBuildInput'), () => ({ input: { repo: 'main', appId: APP_ID } }), ['BuildPayload']));
  // A git build of an unreachable source for an arch no worker builds: it is created and waits,
  // so no job changes builds behind the later rows' snapshots.
  const gitSource = { url: 'https://git.invalid/matrix/app.git', ref: 'main', autoCommit: false, arch: 'nowhere' };
  // Had a build started anyway, it ends (its clone fails) before the next row looks for changes.
  const gitBuildsSettled = async (): Promise<string | null> => {
    const busy = () => ({ where: { OR: [{ kind: 'git-build', status: { in: ['NEW' as const, 'STARTED' as const] } }] } });
    await pollFor(async () => (await s.services.prisma.job.count(busy())) === 0, 120_000, 100);
    const created = await s.services.prisma.build.count({ where: { source: { url: gitSource.url } } });
    return created > 0 ? null : 'no git build was created';
  };
  add('Mutation.createBuild', 'createBuild(main, org.test.Hello, git source)', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('createBuild', m('createBuild', 'CreateBuildInput'), () => ({ input: { repo: 'main', appId: APP_ID, git: gitSource } }), ['BuildPayload']), {
      afterAllowed: gitBuildsSettled,
    });
  const setInput = { repo: 'main', builds: [{ key: 'a', appId: APP_ID, git: gitSource }] };
  add('Mutation.createBuildSet', 'createBuildSet(main, one build of org.test.Hello)', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('createBuildSet', m('createBuildSet', 'CreateBuildSetInput'), () => ({ input: setInput }), ['CreateBuildSetPayload']));
  add('Mutation.cancelBuild', 'cancelBuild(B1): after the rule, B1 is no git build', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('cancelBuild', m('cancelBuild', 'CancelBuildInput'), () => ({ input: { build: fx.b1 } }), ['InvalidInputError']));
  add('Mutation.rebuildBuild', 'rebuildBuild(B1): after the rule, B1 is no git build', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('rebuildBuild', m('rebuildBuild', 'RebuildBuildInput'), () => ({ input: { build: fx.b1 } }), ['InvalidInputError']));
  add('Mutation.addBuildRef', 'addBuildRef(B1, app ref): after the rule, B1 is no longer uploading', 'write', { scopes: ['upload'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('addBuildRef', m('addBuildRef', 'AddBuildRefInput'), () => ({ input: { build: fx.b1, ref: b.app.ref, commit: b.app.commit } }), ['WrongStateError']));
  add('Mutation.commitBuild', 'commitBuild(B1): after the rule, already committed', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('commitBuild', m('commitBuild', 'CommitBuildInput'), () => ({ input: { build: fx.b1 } }), ['WrongStateError']));
  add('Mutation.publishBuild', 'publishBuild(B1): after the rule, already published', 'write', { scopes: ['publish'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('publishBuild', m('publishBuild', 'PublishBuildInput'), () => ({ input: { build: fx.b1 } }), ['WrongStateError']));
  add('Mutation.purgeBuild', 'purgeBuild(an uploading build of main, org.test.Hello)', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('purgeBuild', m('purgeBuild', 'PurgeBuildInput'), () => ({ input: { build: fx.purgeGql } }), ['BuildPayload']), {
      afterAllowed: async () => ((await s.services.prisma.build.findUnique({ where: { id: fx.purgeGql } }))?.state === 'PURGED' ? null : 'the build was not purged'),
    });
  add('Mutation.republishApp', 'republishApp(main, org.test.Hello)', 'write', { scopes: ['republish'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('republishApp', m('republishApp', 'RepublishAppInput'), () => ({ input: { repo: 'main', app: APP_ID } }), ['BuildJobPayload']));
  add('Mutation.pruneRepo', 'pruneRepo(main)', 'write', { scopes: ['generate'], repos: ['main'] },
    mutationProbe('pruneRepo', m('pruneRepo', 'PruneRepoInput'), () => ({ input: { repo: 'main' } }), ['BuildJobPayload']));
  add('Mutation.reviewCheck', 'reviewCheck(a job that is no check): not found once allowed', 'write', { scopes: ['reviewcheck'] },
    mutationProbe('reviewCheck', m('reviewCheck', 'ReviewCheckInput'), () => ({ input: { job: fx.commitJob, status: 'PASSED' } }), ['NotFoundError']));
  add('Mutation.promoteBuild', 'promoteBuild(B1 -> child)', 'write', { scopes: ['publish'], repos: ['main', 'child'], apps: [APP_ID] },
    mutationProbe('promoteBuild', m('promoteBuild', 'PromoteBuildInput'), () => ({ input: { build: fx.b1, targetRepo: 'child' } }), ['PromoteBuildPayload', 'WrongStateError', 'BuildBusyError']));
  // Bundles: the rule of downloading what they hold (here a token-type-1 ref of main: a download token covering main and the app).
  add('Mutation.requestBundle', 'requestBundle(main, the app ref; made already)', 'write', { scopes: ['download'], repos: ['main'], apps: [APP_ID], outside: ['forbidden'] },
    mutationProbe('requestBundle', m('requestBundle', 'RequestBundleInput'), () => ({ input: { repo: 'main', ref: b.app.ref } }), ['RequestBundlePayload']));
  add('Mutation.cancelJob', 'cancelJob(unknown job): not found once allowed', 'write', { scopes: ['jobs', 'admin'] },
    mutationProbe('cancelJob', m('cancelJob', 'CancelJobInput'), () => ({ input: { number: 987654321 } }), ['NotFoundError']));
  add('Mutation.createRepo', 'createRepo(mx-<caller>)', 'write', { scopes: ['admin'] },
    mutationProbe('createRepo', m('createRepo', 'CreateRepoInput'), (c) => ({ input: { name: `mx-${callers.indexOf(c)}` } }), ['RepoPayload']));
  add('Mutation.updateRepo', 'updateRepo(main, title)', 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('updateRepo', m('updateRepo', 'UpdateRepoInput'), (c) => ({ input: { name: 'main', title: `set by ${c.name}` } }), ['RepoPayload']));
  add('Mutation.deleteRepo', 'deleteRepo(doomed)', 'write', { scopes: ['admin'] },
    mutationProbe('deleteRepo', m('deleteRepo', 'DeleteRepoInput'), () => ({ input: { name: 'doomed' } }), ['DeleteRepoPayload', 'NotFoundError']), {
      afterAllowed: async () => ((await s.services.prisma.repo.findUnique({ where: { name: 'doomed' } }))?.status === 'ACTIVE' ? 'the repo is still active' : null),
    });
  add('Mutation.setRepoKey', 'setRepoKey(other, spare key)', 'write', { scopes: ['admin'] },
    mutationProbe('setRepoKey', m('setRepoKey', 'SetRepoKeyInput'), () => ({ input: { repo: 'other', keyId: fx.keys.spare.id, overlapSeconds: 0 } }), ['RepoPayload']));
  add('Mutation.updateRepoRetention', 'updateRepoRetention(main, dryRun)', 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('updateRepoRetention', m('updateRepoRetention', 'UpdateRepoRetentionInput'), () => ({ input: { repo: 'main', dryRun: true } }), ['RepoRetentionPayload']), {
      afterAllowed: async () => ((await s.services.prisma.repo.findUnique({ where: { name: 'main' } }))?.retentionDryRun ? null : 'the setting did not change'),
    });
  add('Mutation.runRetention', 'runRetention(main, dry run)', 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('runRetention', m('runRetention', 'RunRetentionInput'), () => ({ input: { repo: 'main', dryRun: true } }), ['RetentionJobPayload']));
  add('Mutation.fsckRepo', 'fsckRepo(other)', 'write', { scopes: ['admin'], repos: ['other'] },
    mutationProbe('fsckRepo', m('fsckRepo', 'FsckRepoInput'), () => ({ input: { repo: 'other' } }), ['RetentionJobPayload']));
  add('Mutation.generateKey', 'generateKey', 'write', { scopes: ['admin'] },
    mutationProbe('generateKey', m('generateKey', 'GenerateKeyInput'), (c) => ({ input: { name: `mx key ${callers.indexOf(c)}` } }), ['KeyPayload']));
  add('Mutation.importKey', 'importKey(a fresh private key)', 'write', { scopes: ['admin'] },
    mutationProbe('importKey', m('importKey', 'ImportKeyInput'), async (c) => {
      const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'matrix import', email: 'import@example.org' }], format: 'armored' });
      return { input: { name: `mx import ${callers.indexOf(c)}`, armoredPrivateKey: privateKey } };
    }, ['KeyPayload']));
  add('Mutation.deleteKey', 'deleteKey(an unused key)', 'write', { scopes: ['admin'] },
    mutationProbe('deleteKey', m('deleteKey', 'DeleteKeyInput'), () => ({ input: { id: fx.keys.doomed.id } }), ['DeleteKeyPayload', 'NotFoundError']));
  add('Mutation.createToken', 'createToken(scopes: [upload]): at most your own rights', 'write', { scopes: ['upload'] },
    mutationProbe('createToken', m('createToken', 'CreateTokenInput'), () => ({ input: { name: 'mx subset', scopes: ['upload'], durationSeconds: 60 } }), ['CreateTokenPayload']));
  add('Mutation.revokeTokens', 'revokeTokens(a token the caller did not derive)', 'write', { scopes: tokenManagers, signedIn: 'also', also: onlyAdmins },
    mutationProbe('revokeTokens', m('revokeTokens', 'RevokeTokensInput', '... on RevokeTokensPayload { revokedCount }'), () => ({ input: { tokenIds: [fx.victimGqlRevoke.jti] } }), ['RevokeTokensPayload']), {
      afterAllowed: async () => ((await s.services.prisma.apiToken.findUnique({ where: { jti: fx.victimGqlRevoke.jti } }))?.revokedAt ? null : 'the token was not revoked'),
    });
  const preRevoked = new Map<Caller, string>();
  add('Mutation.revokeTokens', 'revokeTokens(an id fmd never saw): admins pre-revoke it, answered apart', 'write', { scopes: tokenManagers, signedIn: 'also', also: onlyAdmins },
    async (c) => {
      const jti = randomUUID();
      preRevoked.set(c, jti);
      const r = await gql(c, m('revokeTokens', 'RevokeTokensInput', '... on RevokeTokensPayload { revokedCount preRevokedTokenIds }'), { input: { tokenIds: [jti] } });
      if (r.errors?.length) return gqlRefusal(r.errors);
      const res = r.data?.revokeTokens;
      if (res?.__typename === 'NotFoundError') return { kind: 'hidden', detail: res.message };
      if (res?.__typename === 'ForbiddenError') return { kind: 'forbidden', detail: res.message };
      const ok = res?.__typename === 'RevokeTokensPayload' && res.revokedCount === 0 && res.preRevokedTokenIds.length === 1 && res.preRevokedTokenIds[0] === jti;
      return ok ? allowed() : unexpected(clip(res));
    },
    {
      afterAllowed: async () => {
        const rows = await s.services.prisma.apiToken.findMany({ where: { jti: { in: [...preRevoked.values()] } } });
        const admins = callers.filter((c) => c.valid && isAdmin(c)).map((c) => preRevoked.get(c));
        if (rows.some((r) => !admins.includes(r.jti))) return 'a refused caller left a row for an id it named';
        return rows.length === admins.length && rows.every((r) => r.revokedAt) ? null : 'an admin-named id has no revoked row';
      },
    });
  const ownChild = new Map<Caller, string>();
  const mintChildren = async () => {
    for (const c of callers) {
      if (ownChild.has(c)) continue;
      // A token the caller derived from itself; callers that cannot mint get an admin's, never reached past authentication.
      const r = c.valid ? await s.gql(m('createToken', 'CreateTokenInput', '... on CreateTokenPayload { apiToken { tokenId } }'), { input: { name: 'mx child', scopes: [], durationSeconds: 600 } }, c.token) : null;
      ownChild.set(c, r?.body.data?.createToken?.apiToken?.tokenId ?? (await mintToken('mx child of admin', { scopes: [], durationSeconds: 600 })).jti);
    }
  };
  add('Mutation.revokeTokens', 'revokeTokens(a token the caller derived from itself)', 'write', { scopes: tokenManagers, signedIn: 'also' },
    mutationProbe('revokeTokens', m('revokeTokens', 'RevokeTokensInput', '... on RevokeTokensPayload { revokedCount }'), (c) => ({ input: { tokenIds: [ownChild.get(c)!] } }), ['RevokeTokensPayload']),
    { setup: mintChildren });

  // --- git credentials and git sources (managed by tokens that may build into the repo, and admins) ---
  add('Query.repo', 'repo(main).gitCredentials: empty for tokens that may not build into main', 'read', { scopes: gitManagers, repos: ['main'], noScope: ['hidden'], outside: ['hidden'] },
    queryProbe('{ repo(name: "main") { gitCredentials(first: 50) { totalCount edges { node { id } } } } }', () => ({}), (d) => {
      if (d.repo === null) return { kind: 'hidden', detail: 'repo null' };
      const list = d.repo.gitCredentials;
      if (list.totalCount === 0 && list.edges.length === 0) return { kind: 'hidden', detail: 'empty' };
      return list.edges.some((e: any) => e.node.id === hx.credential.id) ? allowed() : unexpected(clip(list));
    }));
  add('Query.repo', 'repo(main).gitSources: empty for tokens that may not build org.test.Hello into main', 'read', { scopes: gitManagers, repos: ['main'], apps: [APP_ID], noScope: ['hidden'], outside: ['hidden'] },
    queryProbe('{ repo(name: "main") { gitSources(first: 50) { totalCount edges { node { id } } } } }', () => ({}), (d) => {
      if (d.repo === null) return { kind: 'hidden', detail: 'repo null' };
      const list = d.repo.gitSources;
      if (list.totalCount === 0 && list.edges.length === 0) return { kind: 'hidden', detail: 'empty' };
      return list.edges.some((e: any) => e.node.id === hx.source.id) ? allowed() : unexpected(clip(list));
    }));
  add('Query.build', "build(a build a push started).source { gitSource credential }: null unless the caller manages main's git sources", 'read',
    { scopes: gitManagers, repos: ['main'], apps: [APP_ID], noScope: ['hidden', 'forbidden'], outside: ['hidden'] },
    queryProbe('query($n: Int!) { build(number: $n) { source { gitSource { id } credential { id } } } }', () => ({ n: hx.pushedBuild }), (d) => {
      if (d.build === null) return { kind: 'hidden', detail: 'build null' };
      const { gitSource, credential } = d.build.source;
      if (gitSource === null && credential === null) return { kind: 'hidden', detail: 'gitSource and credential null' };
      return gitSource?.id === hx.source.id && credential?.id === hx.credential.id ? allowed() : unexpected(clip(d.build.source));
    }));
  add('Mutation.createGitCredential', 'createGitCredential(main, mx-<caller>)', 'write', { scopes: gitManagers, repos: ['main'] },
    mutationProbe('createGitCredential', m('createGitCredential', 'CreateGitCredentialInput'), (c) => ({ input: { repo: 'main', name: `mx-${callers.indexOf(c)}`, kind: 'HTTPS_TOKEN', secret: 'mx-token-value' } }), ['GitCredentialPayload']));
  add('Mutation.deleteGitCredential', "deleteGitCredential(a credential of main only this caller's probe deletes)", 'write', { scopes: gitManagers, repos: ['main'] },
    mutationProbe('deleteGitCredential', m('deleteGitCredential', 'DeleteGitCredentialInput'), (c) => ({ input: { id: hx.doomedCredential.get(c) } }), ['DeleteGitCredentialPayload']), {
      setup: async () => {
        for (const c of callers) hx.doomedCredential.set(c, (await createGitCredential(`mx doomed ${callers.indexOf(c)}`)).id);
      },
    });
  add('Mutation.registerGitSource', 'registerGitSource(main, org.test.Hello): its builds act with the caller, who must be able to build', 'write', { scopes: ['build'], repos: ['main'], apps: [APP_ID] },
    mutationProbe('registerGitSource', m('registerGitSource', 'RegisterGitSourceInput'), (c) => ({ input: { repo: 'main', url: 'https://git.invalid/matrix/app.git', branch: `mx-${callers.indexOf(c)}`, appId: APP_ID } }), ['RegisterGitSourcePayload']));
  add('Mutation.rotateGitSourceSecret', 'rotateGitSourceSecret(a source of main for org.test.Hello)', 'write', { scopes: gitManagers, repos: ['main'], apps: [APP_ID] },
    mutationProbe('rotateGitSourceSecret', m('rotateGitSourceSecret', 'RotateGitSourceSecretInput'), () => ({ input: { id: hx.rotating } }), ['RotateGitSourceSecretPayload']));
  add('Mutation.deleteGitSource', "deleteGitSource(a source of main for org.test.Hello only this caller's probe deletes)", 'write', { scopes: gitManagers, repos: ['main'], apps: [APP_ID] },
    mutationProbe('deleteGitSource', m('deleteGitSource', 'DeleteGitSourceInput'), (c) => ({ input: { id: hx.doomedSource.get(c) } }), ['DeleteGitSourcePayload']), {
      setup: async () => {
        for (const c of callers) hx.doomedSource.set(c, (await registerGitSource(`doomed-${callers.indexOf(c)}`)).id);
      },
    });

  // --- webhooks (admins; a repo-restricted admin only its repos' webhooks) ---
  add('Query.webhooks', 'webhooks: the webhooks of main for admins', 'read', { scopes: ['admin'], repos: ['main'] },
    queryProbe('{ webhooks(first: 50) { totalCount edges { node { id repo } } } }', () => ({}), (d) =>
      d.webhooks.edges.some((e: any) => e.node.id === wx.hook.id) ? allowed() : d.webhooks.totalCount === 0 ? { kind: 'hidden', detail: 'empty' } : unexpected(clip(d.webhooks))));
  add('Query.webhookDeliveries', "webhookDeliveries(main's webhook)", 'read', { scopes: ['admin'], repos: ['main'] },
    queryProbe('query($id: ID!) { webhookDeliveries(webhook: $id, first: 20) { edges { node { id state } } } }', () => ({ id: wx.hook.id }), (d) =>
      d.webhookDeliveries.edges.some((e: any) => e.node.id === wx.delivery) ? allowed() : unexpected(clip(d.webhookDeliveries))));
  add('Mutation.createWebhook', 'createWebhook(main)', 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('createWebhook', m('createWebhook', 'CreateWebhookInput'), (c) => ({ input: { repo: 'main', url: deadUrl, events: ['repo.fsck_failed'], description: `mx-${callers.indexOf(c)}` } }), ['CreateWebhookPayload']));
  add('Mutation.updateWebhook', "updateWebhook(main's webhook)", 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('updateWebhook', m('updateWebhook', 'UpdateWebhookInput'), (c) => ({ input: { id: wx.hook.id, description: `updated by ${callers.indexOf(c)}` } }), ['UpdateWebhookPayload']));
  add('Mutation.deleteWebhook', "deleteWebhook(a webhook of main only this caller's probe deletes)", 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('deleteWebhook', m('deleteWebhook', 'DeleteWebhookInput'), (c) => ({ input: { id: wx.doomed.get(c) } }), ['DeleteWebhookPayload']), {
      setup: async () => {
        for (const c of callers) wx.doomed.set(c, (await createWebhook(`mx doomed ${callers.indexOf(c)}`)).id);
      },
    });
  add('Mutation.testWebhook', "testWebhook(main's webhook)", 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('testWebhook', m('testWebhook', 'TestWebhookInput'), () => ({ input: { id: wx.hook.id } }), ['TestWebhookPayload']));
  add('Mutation.redeliverWebhookDelivery', "redeliverWebhookDelivery(a failed delivery only this caller's probe sends again)", 'write', { scopes: ['admin'], repos: ['main'] },
    mutationProbe('redeliverWebhookDelivery', m('redeliverWebhookDelivery', 'RedeliverWebhookDeliveryInput'), (c) => ({ input: { id: wx.failed.get(c) } }), ['RedeliverWebhookDeliveryPayload']), {
      setup: async () => {
        for (const c of callers) wx.failed.set(c, await failedDelivery());
      },
    });

  // --- users, roles, sessions, invites ---
  const fmdAdmins: Rule = { scopes: ['admin'] };
  add('Query.users', 'users: admins all, others their own user', 'read', {}, queryProbe('{ users(first: 100) { totalCount edges { node { name } } } }', () => ({}), (d, c) => {
    const names: string[] = d.users.edges.map((e: any) => e.node.name);
    if (isAdmin(c)) return ['admin', 'mx-viewer', 'mx-target', 'mx-doomed'].every((n) => names.includes(n)) ? allowed() : unexpected(`an admin sees ${fmtSet(names)}`);
    return sameSet(names, [c.user]) && d.users.totalCount === 1 ? allowed() : unexpected(`users ${fmtSet(names)}, want [${c.user}]`);
  }));
  add('Query.user', 'user(name: mx-viewer)', 'read', { also: ownedBy('mx-viewer'), outside: ['hidden'] }, queryProbe('{ user(name: "mx-viewer") { name roles { role } sessions { id } } }', () => ({}), (d) =>
    d.user === null ? { kind: 'hidden', detail: 'null' } : d.user.name === 'mx-viewer' && d.user.roles[0]?.role === 'VIEWER' && d.user.sessions.length > 0 ? allowed() : unexpected(clip(d.user))));
  add('Query.invites', 'invites', 'read', fmdAdmins, queryProbe('{ invites { id } }', () => ({}), (d) =>
    d.invites.some((i: any) => i.id === ux.invite) ? allowed() : unexpected(clip(d.invites))));
  // Public: they answer anyone, and act only on what their input names.
  add('Mutation.signIn', 'signIn(mx-target, its password)', 'write', { public: true },
    mutationProbe('signIn', m('signIn', 'SignInInput'), () => ({ input: { username: 'mx-target', password: 'mx-target-password' } }), ['SignInPayload']));
  add('Mutation.refreshSession', 'refreshSession(an unknown refresh token)', 'write', { public: true },
    mutationProbe('refreshSession', m('refreshSession', 'RefreshSessionInput'), () => ({ input: { refreshToken: 'no-such-refresh-token' } }), ['SignInError']));
  add('Mutation.acceptInvite', 'acceptInvite(an unknown code)', 'write', { public: true },
    mutationProbe('acceptInvite', m('acceptInvite', 'AcceptInviteInput'), (c) => ({ input: { code: 'no-such-invite', name: `mx-inv-${callers.indexOf(c)}`, password: 'invited-password' } }), ['SignInError']));
  // Your own account: a password sign-in only, never a token minted from one.
  add('Mutation.signOut', 'signOut(a refresh token that is not the caller’s)', 'write', { signedIn: 'only' },
    mutationProbe('signOut', `mutation { signOut(input: { refreshToken: "not-a-session-of-yours" }) { __typename ... on Error { message } } }`, () => ({}), ['SignOutPayload']));
  add('Mutation.changePassword', 'changePassword(wrong current password)', 'write', { signedIn: 'only' },
    mutationProbe('changePassword', m('changePassword', 'ChangePasswordInput'), () => ({ input: { currentPassword: 'not-the-password', newPassword: 'another-password-1' } }), ['InvalidInputError']));
  add('Mutation.updateProfile', 'updateProfile(displayName)', 'write', { signedIn: 'only' },
    mutationProbe('updateProfile', m('updateProfile', 'UpdateProfileInput'), (c) => ({ input: { displayName: `set by ${c.name}` } }), ['UpdateProfilePayload']));
  add('Mutation.revokeSession', "revokeSession(mx-target's session)", 'write', { also: ownedBy('mx-target'), outside: ['hidden'] },
    mutationProbe('revokeSession', m('revokeSession', 'RevokeSessionInput'), () => ({ input: { session: ux.targetSession } }), ['RevokeSessionPayload']));
  // fmd's admins only.
  add('Mutation.createUser', 'createUser(mx-made-<caller>)', 'write', fmdAdmins,
    mutationProbe('createUser', m('createUser', 'CreateUserInput'), (c) => ({ input: { name: `mx-made-${callers.indexOf(c)}`, roles: [{ repo: 'main', role: 'VIEWER' }] } }), ['CreateUserPayload']));
  add('Mutation.updateUser', 'updateUser(mx-target, displayName)', 'write', fmdAdmins,
    mutationProbe('updateUser', m('updateUser', 'UpdateUserInput'), (c) => ({ input: { user: ux.target, displayName: `by ${c.name}` } }), ['UpdateUserPayload']));
  add('Mutation.setUserPassword', 'setUserPassword(mx-target)', 'write', fmdAdmins,
    mutationProbe('setUserPassword', m('setUserPassword', 'SetUserPasswordInput'), () => ({ input: { user: ux.target, password: 'mx-target-password' } }), ['SetUserPasswordPayload']));
  add('Mutation.unlockUser', 'unlockUser(mx-target)', 'write', fmdAdmins,
    mutationProbe('unlockUser', m('unlockUser', 'UnlockUserInput'), () => ({ input: { user: ux.target } }), ['UnlockUserPayload']));
  add('Mutation.grantRole', 'grantRole(mx-target, main, VIEWER)', 'write', fmdAdmins,
    mutationProbe('grantRole', m('grantRole', 'GrantRoleInput'), () => ({ input: { user: ux.target, repo: 'main', role: 'VIEWER' } }), ['GrantRolePayload']));
  add('Mutation.revokeRole', "revokeRole(mx-target's role on other)", 'write', fmdAdmins,
    mutationProbe('revokeRole', m('revokeRole', 'RevokeRoleInput'), () => ({ input: { grant: ux.targetGrant } }), ['RevokeRolePayload', 'NotFoundError']), {
      afterAllowed: async () => ((await s.services.prisma.roleGrant.count({ where: { id: Number(Buffer.from(ux.targetGrant, 'base64').toString().split(':')[1]) } })) === 0 ? null : 'the role is still there'),
    });
  add('Mutation.deleteUser', 'deleteUser(mx-doomed)', 'write', fmdAdmins,
    mutationProbe('deleteUser', m('deleteUser', 'DeleteUserInput'), () => ({ input: { user: ux.doomed } }), ['DeleteUserPayload', 'NotFoundError']), {
      afterAllowed: async () => ((await s.services.prisma.user.count({ where: { name: 'mx-doomed' } })) === 0 ? null : 'the user is still there'),
    });
  add('Mutation.createInvite', 'createInvite(VIEWER of main)', 'write', fmdAdmins,
    mutationProbe('createInvite', m('createInvite', 'CreateInviteInput'), () => ({ input: { roles: [{ repo: 'main', role: 'VIEWER' }] } }), ['CreateInvitePayload']));
  add('Mutation.deleteInvite', 'deleteInvite(an unused invite)', 'write', fmdAdmins,
    mutationProbe('deleteInvite', m('deleteInvite', 'DeleteInviteInput'), () => ({ input: { invite: ux.doomedInvite } }), ['DeleteInvitePayload', 'NotFoundError']));

  // --- Subscription (over a real WebSocket) ---
  add('Subscription.buildUpdated', 'buildUpdated(B1)', 'subscribe', { scopes: buildReaders, repos: ['main'], apps: [APP_ID] }, (c) => subscribeProbe(c, `subscription { buildUpdated(number: ${fx.b1}) { number } }`, 'first'));
  add('Subscription.buildsUpdated', 'buildsUpdated(main): only builds the caller may see', 'subscribe', { scopes: buildReaders, repos: ['main'] }, (c) =>
    subscribeProbe(c, 'subscription { buildsUpdated(repo: "main") { number } }', 'builds'));
  add('Subscription.buildsUpdated', 'buildsUpdated (every repo): only builds the caller may see', 'subscribe', { scopes: buildReaders }, (c) =>
    subscribeProbe(c, 'subscription { buildsUpdated { number } }', 'allBuilds'));
  add('Subscription.jobsUpdated', 'jobsUpdated: the subscription starts (which jobs it shows: jobs.test.ts)', 'subscribe', { scopes: jobReaders }, (c) =>
    subscribeProbe(c, 'subscription { jobsUpdated { number } }', 'quiet'));
  add('Subscription.jobUpdated', 'jobUpdated(commit job of B1)', 'subscribe', { scopes: jobReaders, also: usersInMain }, (c) => subscribeProbe(c, `subscription { jobUpdated(number: ${fx.commitJob}) { number } }`, 'first'));
  add('Subscription.jobLog', 'jobLog(commit job of B1)', 'subscribe', { scopes: jobReaders, also: usersInMain }, (c) => subscribeProbe(c, `subscription { jobLog(number: ${fx.commitJob}) { text } }`, 'first'));
  add('Subscription.repoUpdated', 'repoUpdated(main)', 'subscribe', { repos: ['main'] }, (c) => subscribeProbe(c, 'subscription { repoUpdated(name: "main") { name } }', 'first'));
  add('Subscription.tokensChanged', 'tokensChanged', 'subscribe', { scopes: tokenManagers }, (c) => subscribeProbe(c, 'subscription { tokensChanged { kind } }', 'first'));

  // --- HTTP: service endpoints ---
  add('GET /healthz', 'healthz', 'read', { public: true }, restProbe('GET', () => '/healthz', {}, status(200)));
  add('GET /readyz', 'readyz', 'read', { public: true }, restProbe('GET', () => '/readyz', {}, status(200)));
  // Metrics name repos, job kinds and error counts: an admin's, unless bound to a port of their own.
  add('GET /metrics', 'metrics on the API port', 'read', { scopes: ['admin'] }, restProbe('GET', () => '/metrics', {}, status(200)));
  add('GET /{*path}', 'GET / as a page: the web dashboard (503 with how to build it when not built)', 'read', { public: true },
    restProbe('GET', () => '/', { headers: () => ({ accept: 'text/html' }) }, status(200, 503)));
  add('GET /playground', 'GET /playground: the GraphQL playground page (503 when not built)', 'read', { public: true },
    restProbe('GET', () => '/playground', { headers: () => ({ accept: 'text/html' }) }, status(200, 503)));
  add('GET /graphql', 'GET /graphql as a page: sent to the playground', 'read', { public: true },
    restProbe('GET', () => '/graphql', { headers: () => ({ accept: 'text/html' }) }, status(302)));
  add('USE /*', 'an unknown path is 404 for anyone', 'read', { public: true }, restProbe('GET', () => '/no-such-path', {}, flatManagerError(404, 'not-found')));
  add('USE /graphql/*', 'POST /graphql { __typename }: authorization is per field', 'read', { public: true }, restProbe('POST', () => '/graphql', { json: () => ({ query: '{ __typename }' }) }, status(200)));

  // --- HTTP: the job dashboard, admins only ---
  const admins: Rule = { scopes: ['admin'] };
  add('USE /admin/jobs/*', 'GET /admin/jobs/ (the dashboard page)', 'read', admins, restProbe('GET', () => '/admin/jobs/', {}, dashboard));
  for (const p of ['/api', '/api/events', '/api/logs', '/api/stats']) add(`GET /admin/jobs${p}`, `GET /admin/jobs${p}`, 'read', admins, restProbe('GET', () => `/admin/jobs${p}`, {}, dashboard));
  for (const p of ['create', 'delete', 'pause', 'requeue', 'resume', 'retry']) {
    // No body: the dashboard's handler fails on it, after the guard, and changes nothing.
    add(`POST /admin/jobs/api/jobs/${p}`, `POST /admin/jobs/api/jobs/${p} without a body`, 'write', admins, restProbe('POST', () => `/admin/jobs/api/jobs/${p}`, {}, dashboard));
  }

  // --- HTTP: flat-manager's API ---
  const v1 = '/api/v1';
  const onB1 = { repos: ['main'], apps: [APP_ID] };
  add(`USE ${v1}/*`, 'an unknown API path is 404 for anyone', 'read', { public: true }, restProbe('GET', () => `${v1}/no-such`, {}, flatManagerError(404, 'not-found')));
  add(`POST ${v1}/build`, 'create a build in main for org.test.Hello', 'write', { scopes: ['build'], ...onB1 }, restProbe('POST', () => `${v1}/build`, { json: () => ({ repo: 'main', 'app-id': APP_ID }) }, status(200)));
  add(`POST ${v1}/build/git`, 'create a git build in main for org.test.Hello (an unreachable source)', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build/git`, { json: () => ({ repo: 'main', 'app-id': APP_ID, url: gitSource.url, ref: 'main', 'auto-commit': false, arch: gitSource.arch }) }, status(200)), {
      afterAllowed: gitBuildsSettled,
    });
  add(`POST ${v1}/build-set`, 'create a build set in main of one build of org.test.Hello (waiting: an arch no worker builds)', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build-set`, { json: () => ({ repo: 'main', builds: [{ key: 'a', 'app-id': APP_ID, url: gitSource.url, ref: 'main', 'auto-commit': false, arch: gitSource.arch }] }) }, status(200)));
  add(`POST ${v1}/build/:id/cancel`, 'B1: after the rule, B1 is no git build', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/cancel`, { json: () => ({}) }, flatManagerError(400, 'generic-error')));
  add(`POST ${v1}/build/:id/rebuild`, 'B1: after the rule, B1 is no git build', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/rebuild`, { json: () => ({}) }, flatManagerError(400, 'generic-error')));
  add(`GET ${v1}/build`, 'list builds of org.test.Hello: only those the caller may see', 'read', { scopes: ['build', 'download'], apps: [APP_ID], outside: ['forbidden'] },
    restProbe('GET', () => `${v1}/build?app-id=${APP_ID}`, {}, (r, c) => {
      if (r.status !== 200 || !Array.isArray(r.body)) return unexpected(`status ${r.status}: ${clip(r.text, 120)}`);
      const got = r.body.map((x: any) => x.id);
      const want = fx.builds.filter((x) => x.appId === APP_ID && repoCovered(c, x.repo) && appCovered(c, APP_ID)).map((x) => x.id);
      return sameSet(got, want) ? true : unexpected(`builds ${fmtSet(got)}, want ${fmtSet(want)}`);
    }));
  add(`GET ${v1}/build/:id`, 'B1', 'read', { scopes: ['build', 'upload'], ...onB1 }, restProbe('GET', () => `${v1}/build/${fx.b1}`, {}, (r) => (r.status === 200 && r.body?.id === fx.b1 ? true : unexpected(`status ${r.status}`))));
  add(`GET ${v1}/build/:id/extended`, 'B1', 'read', { scopes: ['build', 'upload'], ...onB1 }, restProbe('GET', () => `${v1}/build/${fx.b1}/extended`, {}, (r) => (r.status === 200 && r.body?.build?.id === fx.b1 ? true : unexpected(`status ${r.status}`))));
  add(`GET ${v1}/build/:id/build_ref/:ref_id`, 'the app ref of B1', 'read', { scopes: ['build'], ...onB1 }, restProbe('GET', () => `${v1}/build/${fx.b1}/build_ref/${fx.b1Ref}`, {}, status(200)));
  add(`GET ${v1}/build/:id/missing_objects`, 'B1, nothing wanted', 'read', { scopes: ['upload'], ...onB1 },
    restProbe('GET', () => `${v1}/build/${fx.b1}/missing_objects`, { json: () => ({ wanted: [] }), gzip: true }, (r) => (r.status === 200 && Array.isArray(r.body?.missing) ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`))));
  add(`GET ${v1}/build/:id/commit`, 'the commit job of B1', 'read', { scopes: ['build'], ...onB1 }, restProbe('GET', () => `${v1}/build/${fx.b1}/commit`, {}, status(200)));
  add(`GET ${v1}/build/:id/publish`, 'the publish job of B1', 'read', { scopes: ['build'], ...onB1 }, restProbe('GET', () => `${v1}/build/${fx.b1}/publish`, {}, status(200)));
  add(`POST ${v1}/build/:id/upload`, 'an empty multipart upload to B1: after the rule, uploads are closed', 'write', { scopes: ['upload'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/upload`, { body: Buffer.from('--mx--\r\n'), contentType: 'multipart/form-data; boundary=mx' }, flatManagerError(400, 'wrong-repo-state')));
  add(`POST ${v1}/build/:id/build_ref`, 'the app ref again: after the rule, uploads are closed', 'write', { scopes: ['upload'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/build_ref`, { json: () => ({ ref: b.app.ref, commit: b.app.commit }) }, flatManagerError(400, 'wrong-repo-state')));
  add(`POST ${v1}/build/:id/add_extra_ids`, 'an extra id for B1', 'write', { scopes: ['upload'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/add_extra_ids`, { json: () => ({ ids: [`${APP_ID}.Matrix`] }) }, status(200)));
  add(`POST ${v1}/build/:id/commit`, 'B1: after the rule, already committed', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/commit`, { json: () => ({}) }, flatManagerError(400, 'wrong-repo-state')));
  add(`POST ${v1}/build/:id/publish`, 'B1: after the rule, already published', 'write', { scopes: ['publish'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.b1}/publish`, { json: () => ({}) }, flatManagerError(400, 'wrong-published-state')));
  add(`POST ${v1}/build/:id/purge`, 'an uploading build of main, org.test.Hello', 'write', { scopes: ['build'], ...onB1 },
    restProbe('POST', () => `${v1}/build/${fx.purgeRest}/purge`, { json: () => ({}) }, status(200)), {
      afterAllowed: async () => ((await s.services.prisma.build.findUnique({ where: { id: fx.purgeRest } }))?.state === 'PURGED' ? null : 'the build was not purged'),
    });
  add(`GET ${v1}/job/:id`, 'the commit job of B1', 'read', { scopes: ['jobs'], also: usersInMain }, restProbe('GET', () => `${v1}/job/${fx.commitJob}`, {}, (r) => (r.status === 200 && r.body?.id === fx.commitJob ? true : unexpected(`status ${r.status}`))));
  add(`POST ${v1}/job/:id/check/review`, 'a job that is no check: not found once allowed', 'write', { scopes: ['reviewcheck'] },
    restProbe('POST', () => `${v1}/job/${fx.commitJob}/check/review`, { json: () => ({ 'new-status': 'PASSED' }) }, (r, c) =>
      // 404 is success only past the scope check: the probe says which by the caller's scope.
      r.status === 404 && c.valid && c.scopes.includes('reviewcheck') ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`)));
  add(`POST ${v1}/repo/:repo/republish`, 'republish org.test.Hello in main', 'write', { scopes: ['republish'], ...onB1 },
    restProbe('POST', () => `${v1}/repo/main/republish`, { json: () => ({ app: APP_ID }) }, status(200)));
  add(`POST ${v1}/prune`, 'prune main', 'write', { scopes: ['generate'], repos: ['main'] }, restProbe('POST', () => `${v1}/prune`, { json: () => ({ repo: 'main' }) }, status(200)));
  add(`POST ${v1}/token_subset`, 'an upload token: at most your own rights', 'write', { scopes: ['upload'] },
    restProbe('POST', () => `${v1}/token_subset`, { json: () => ({ name: 'mx subset', sub: '', scope: ['upload'], duration: 60 }) }, (r) => (r.status === 200 && typeof r.body?.token === 'string' ? true : unexpected(`status ${r.status}: ${clip(r.text, 120)}`))));
  add(`POST ${v1}/tokens/get_list`, 'a token the caller did not derive: listed for admins only', 'read', { scopes: tokenManagers, also: onlyAdmins },
    restProbe('POST', () => `${v1}/tokens/get_list`, { json: () => ({ token_ids: [fx.victimList.jti] }) }, (r) => {
      if (r.status !== 200 || !Array.isArray(r.body)) return unexpected(`status ${r.status}: ${clip(r.text, 120)}`);
      if (r.body.length === 0) return { kind: 'hidden', detail: '[]' };
      return r.body.length === 1 && r.body[0].token_id === fx.victimList.jti ? true : unexpected(clip(r.body));
    }));
  add(`POST ${v1}/tokens/revoke`, 'a token the caller did not derive', 'write', { scopes: tokenManagers, also: onlyAdmins },
    restProbe('POST', () => `${v1}/tokens/revoke`, { json: () => ({ token_ids: [fx.victimRestRevoke.jti] }) }, status(204)), {
      afterAllowed: async () => ((await s.services.prisma.apiToken.findUnique({ where: { jti: fx.victimRestRevoke.jti } }))?.revokedAt ? null : 'the token was not revoked'),
    });
  const ownRestChild = new Map<Caller, string>();
  add(`POST ${v1}/tokens/revoke`, 'a token the caller derived from itself', 'write', { scopes: tokenManagers },
    restProbe('POST', () => `${v1}/tokens/revoke`, { json: (c) => ({ token_ids: [ownRestChild.get(c)] }) }, status(204)), {
      setup: async () => {
        ownChild.clear();
        await mintChildren();
        for (const [c, jti] of ownChild) ownRestChild.set(c, jti);
      },
    });

  // --- HTTP: git forge webhooks. Public, but only a request signed with the source's secret gets
  // in: the bearer token (sent by every probe here) neither opens nor closes it. ---
  const hookPath = (id: number) => `${v1}/hooks/git/${id}`;
  const signed = (body: Buffer, event: string, secret = hx.source.secret) => () => ({
    'content-type': 'application/json',
    'x-github-event': event,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  });
  const pingBody = Buffer.from('{"zen":"matrix"}');
  const otherBranch = Buffer.from(JSON.stringify({ ref: 'refs/heads/not-built', after: 'a'.repeat(40) }));
  const signatureOnly = { test: () => false, why: 'no token opens a webhook: only the signature made with the source secret does' };
  add(`POST ${v1}/hooks/git/:source`, 'a ping signed with the source secret, whatever the token', 'read', { public: true },
    restProbe('POST', () => hookPath(hx.source.number), { body: pingBody, headers: signed(pingBody, 'ping') }, status(200)));
  add(`POST ${v1}/hooks/git/:source`, 'a ping signed with another secret: 401 whatever the token', 'read', { also: signatureOnly, invalid: ['unauthenticated'], outside: ['unauthenticated'] },
    restProbe('POST', () => hookPath(hx.source.number), { body: pingBody, headers: signed(pingBody, 'ping', 'not the secret of this source') }, status(200)));
  add(`POST ${v1}/hooks/git/:source`, 'an unknown source: 404 whatever the token', 'read', { also: signatureOnly, invalid: ['hidden'], outside: ['hidden'] },
    restProbe('POST', () => hookPath(987654), { body: pingBody, headers: signed(pingBody, 'ping') }, status(200)));
  add(`POST ${v1}/hooks/git/:source`, 'a signed push to a branch the source does not build: accepted, nothing started', 'write', { public: true },
    restProbe('POST', () => hookPath(hx.source.number), { body: otherBranch, headers: signed(otherBranch, 'push') }, status(202)));

  // --- HTTP: the catalog's icons (GraphQL `app`'s rule; main's test app has no icon, so a caller that may see it gets 404 too) ---
  const noIcon = { test: () => false, why: "main's org.test.Hello has no icon: 404 for whoever may see the app" };
  add('GET /api/catalog/:repo/icons/:file', 'GET the icon of org.test.Hello in main', 'read', { also: noIcon, invalid: ['unauthenticated'], outside: ['hidden'] },
    restProbe('GET', () => `/api/catalog/main/icons/${APP_ID}.png`, {}, (r) => unexpected(`status ${r.status}: ${clip(r.text, 120)}`)));
  add('USE /api/catalog/*', 'an unknown catalog path is 404 for anyone', 'read', { public: true }, restProbe('GET', () => '/api/catalog/no-such', {}, flatManagerError(404, 'not-found')));

  // --- HTTP: repo files (flatpak clients) ---
  const commitPath = (commit: string) => `/repo/main/objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`;
  add('USE /repo/*', 'GET /repo/main/summary.idx (public)', 'read', { public: true }, restProbe('GET', () => '/repo/main/summary.idx', {}, status(200)));
  add('USE /repo/*', 'GET /repo/main.flatpakrepo (public)', 'read', { public: true }, restProbe('GET', () => '/repo/main.flatpakrepo', {}, status(200)));
  add('USE /repo/*', 'GET the app commit (token type 1) in main', 'read', { scopes: ['download'], repos: ['main'], apps: [APP_ID], outside: ['forbidden'] },
    restProbe('GET', () => commitPath(fx.appCommitInMain), {}, status(200)));
  add('USE /repo/*', 'GET the runtime commit (token type 1) in main', 'read', { scopes: ['download'], repos: ['main'], apps: [PLATFORM_ID], outside: ['forbidden'] },
    restProbe('GET', () => commitPath(fx.runtimeCommitInMain), {}, status(200)));

  // --- HTTP: bundles (what they hold decides: a token-type-1 ref of main needs a download token covering it; unknown or not yours is 404) ---
  add('USE /bundles/*', 'GET the bundle of the app ref (token type 1) of main', 'read', { scopes: ['download'], repos: ['main'], apps: [APP_ID], invalid: ['hidden', 'unauthenticated'], noScope: ['hidden'], outside: ['hidden'] },
    restProbe('GET', () => `/bundles/${fx.bundle}/${APP_ID}.flatpak`, {}, (r) => (r.status === 200 && r.headers['content-disposition'] === `attachment; filename="${APP_ID}.flatpak"` ? true : unexpected(`status ${r.status}: ${clip(r.text, 80)}`))));
  add('USE /bundles/*', 'HEAD of an unknown bundle is 404 for anyone', 'read', { public: true }, restProbe('HEAD', () => '/bundles/987654/x.flatpak', {}, status(404)));

  // --- HTTP: build repos (testing a build before it is published) ---
  add('USE /build-repo/*', 'GET config of a build of main for org.test.Hello (public-download false)', 'read', { scopes: ['download'], ...onB1 },
    restProbe('GET', () => `/build-repo/${fx.privateBuild}/config`, {}, status(200)));
  add('USE /build-repo/*', 'GET config of a public build of other', 'read', { public: true }, restProbe('GET', () => `/build-repo/${fx.otherBuild}/config`, {}, status(200)));
  // Last of the writes: it ends the signed-in callers' sessions (their tokens with them).
  add('Mutation.signOutEverywhere', 'signOutEverywhere (the last write row)', 'write', { signedIn: 'only' },
    mutationProbe('signOutEverywhere', 'mutation { signOutEverywhere { __typename ... on Error { message } } }', () => ({}), ['SignOutEverywherePayload']), {
      afterAllowed: async () => {
        const open = await s.services.prisma.userSession.count({ where: { endedAt: null, user: { name: { in: ['mx-viewer', 'mx-uploader', 'mx-publisher', 'mx-repo-admin', 'mx-child-publisher'] } } } });
        return open === 0 ? null : `${open} session(s) of the signed-in callers are still open`;
      },
    });
  return out;
}

// --- subscriptions ---------------------------------------------------------------------------

// One socket per subscription, so one operation's end can never touch another's (graphql-ws
// counts an operation released twice when it is released in `next` and the server completes it
// too). Not lazy: a socket stays open until it is disposed.
const sockets: Client[] = [];
/**
 * Sockets of the expired and the revoked caller, opened and used while their tokens were good,
 * one per subscription row (a row beyond `subscriptionCount` gets a fresh socket, refused when it
 * connects; so does the expired caller when a busy machine let its token expire first).
 */
const preOpened = new Map<Caller, Client[]>();
const subscriptionCount = 6;

/** Opens the caller's sockets and runs a query on each; answers how many its token was still good for. */
async function openSocketsNow(c: Caller): Promise<number> {
  const open: Client[] = [];
  await Promise.all(
    Array.from({ length: subscriptionCount }, async () => {
      const client = openSocket(c);
      const ok = await new Promise<boolean>((resolve) =>
        client.subscribe({ query: '{ viewer { tokenId } }' }, { next: (v: any) => resolve(v.data?.viewer?.tokenId === c.jti), error: () => resolve(false), complete: () => resolve(false) }),
      );
      if (ok) open.push(client);
    }),
  );
  preOpened.set(c, open);
  return open.length;
}

function openSocket(c: Caller): Client {
  const client = createClient({ url: s.wsUrl, connectionParams: c.token ? { authorization: `Bearer ${c.token}` } : {}, lazy: false, onNonLazyError: () => undefined, retryAttempts: 0 });
  sockets.push(client);
  return client;
}

/**
 * Subscribes and waits for the verdict: an event (allowed), an error or a rejected connection
 * (refused). `builds` waits for the second change of the app-less build of main, so at least one
 * change of B1 (org.test.Hello) was published after it was registered: a caller that may not
 * see B1 must not have received it.
 */
/**
 * `first`: the first event or refusal decides. `builds`: buildsUpdated(main) until two events of
 * main's app-less build, none it may not see. `allBuilds`: buildsUpdated across repos until two
 * events of each build the event loop changes that the caller may see (or 5 s without a leak
 * when it sees neither). `quiet`: no refusal within 3 s is allowed (events are not waited for).
 */
function subscribeProbe(c: Caller, query: string, until: 'first' | 'builds' | 'allBuilds' | 'quiet'): Promise<Got> {
  return new Promise<Got>((resolve) => {
    const seen: number[] = [];
    let done = false;
    const finish = (g: Got) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(quietTimer);
      unsubscribe();
      void client.dispose();
      resolve(g);
    };
    const timer = setTimeout(() => finish(unexpected('neither an event nor an error within 60 s')), 60_000);
    const triggered = () => [fx.b1, fx.mainNoApp].filter((id) => visibleBuilds(c).some((vb) => vb.id === id));
    const quietTimer =
      until === 'quiet' || (until === 'allBuilds' && triggered().length === 0)
        ? setTimeout(() => finish(until === 'quiet' ? allowed('subscribed') : allowed('no leak in 5 s')), until === 'quiet' ? 3_000 : 5_000)
        : undefined;
    const client = preOpened.get(c)?.pop() ?? openSocket(c);
    const unsubscribe = client.subscribe(
      { query },
      {
        next: (v: any) => {
          if (v.errors?.length) return finish(gqlRefusal(v.errors));
          if (until === 'first' || until === 'quiet') return finish(allowed('event'));
          const n = v.data?.buildsUpdated?.number;
          seen.push(n);
          // (subscribed to main, a caller may see main's app-less build: it matches any prefix)
          const leakedNow = seen.filter((x) => !(until === 'builds' && x === fx.mainNoApp) && !visibleBuilds(c).some((vb) => vb.id === x));
          if (leakedNow.length) return finish(unexpected(`received build(s) it may not see: ${fmtSet(new Set(leakedNow))}`));
          const waitFor = until === 'builds' ? [fx.mainNoApp] : triggered();
          if (waitFor.some((id) => seen.filter((x) => x === id).length < 2)) return;
          finish(allowed('events'));
        },
        error: (e: any) => {
          if (Array.isArray(e)) return finish(gqlRefusal(e));
          if (typeof e?.code === 'number') return finish(e.code === 4401 || e.code === 4403 ? { kind: 'unauthenticated', detail: `socket closed ${e.code}` } : unexpected(`socket closed ${e.code} ${e.reason ?? ''}`));
          finish(unexpected(`error ${clip(e?.message ?? e)}`));
        },
        // A finished job's log or status stream may end right after its replay.
        complete: () => finish(until === 'first' || until === 'quiet' ? allowed('completed') : unexpected('completed without events')),
      },
    );
  });
}

/** Makes the events the open subscriptions wait for, until they all have their verdict. */
function triggerEvents(): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const admin = callers.at(-1)!;
      await call('POST', `/api/v1/build/${fx.b1}/add_extra_ids`, admin, { json: { ids: [`${APP_ID}.Ev${i}`] } });
      await call('POST', `/api/v1/build/${fx.mainNoApp}/add_extra_ids`, admin, { json: { ids: [`org.fmd.NoApp.Ev${i}`] } });
      await mintToken('mx event', { scopes: [], durationSeconds: 60 });
      // tokensChanged shows a non-admin manager only the tokens it may list: those it derives itself.
      if (i % 8 === 0) {
        for (const c of callers.filter((x) => x.valid && x.scopes.includes('tokenmanagement') && !isAdmin(x))) {
          await s.gql('mutation { createToken(input: { name: "mx event child", scopes: [], durationSeconds: 60 }) { __typename } }', {}, c.token);
        }
      }
      if (i % 8 === 0) await gqlOk('mutation($t: String!) { updateRepo(input: { name: "main", comment: $t }) { __typename } }', { t: `event ${i}` });
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

// --- running the table -----------------------------------------------------------------------

function record(row: Row, c: Caller, got: Got): void {
  cases++;
  const exp = expected(row.rule, c);
  const ok = exp === 'allowed' ? got.kind === 'allowed' : (exp as readonly string[]).includes(got.kind);
  if (ok) return;
  const want = exp === 'allowed' ? 'allowed' : `refused (${exp.join(' or ')})`;
  fail(row, c, `${c.name} | ${row.key} [${row.probe}] | expected ${want} | got ${got.kind}${got.detail ? `: ${got.detail}` : ''}`);
}

async function settle(p: Promise<Got>): Promise<Got> {
  try {
    return await p;
  } catch (err) {
    return unexpected(`probe failed: ${clip((err as Error).message)}`);
  }
}

/** At most `n` at a time: the machine is shared. */
async function inBatches<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(f));
}

async function runWriteRow(row: Row): Promise<void> {
  await row.setup?.();
  const refused = callers.filter((c) => expected(row.rule, c) !== 'allowed');
  const permitted = callers.filter((c) => expected(row.rule, c) === 'allowed');
  const before = await snapshot();
  const got = await Promise.all(refused.map((c) => settle(row.run(c))));
  const changed = diff(before, await snapshot());
  refused.forEach((c, i) => record(row, c, got[i]!));
  if (changed) {
    const through = refused.filter((_, i) => got[i]!.kind === 'allowed').map((c) => c.name);
    fail(row, null, `${through.join(', ') || 'refused callers'} | ${row.key} [${row.probe}] | expected no change | got changed ${changed}`);
  }
  // One at a time: the first may use up the target (a purge, a delete), the next sees it used.
  for (const c of permitted) record(row, c, await settle(row.run(c)));
  const after = permitted.length ? await row.afterAllowed?.() : null;
  if (after) fail(row, null, `${permitted.map((c) => c.name).join(', ')} | ${row.key} [${row.probe}] | expected the allowed calls to take effect | got ${after}`);
}

async function waitForJobs(): Promise<void> {
  await pollFor(async () => (await s.services.prisma.job.count({ where: { status: { in: ['NEW', 'STARTED'] } } })) === 0, 180_000, 200);
}

before(async () => {
  // Its callers' hundreds of refused tokens come from one IP: the authentication-failure limit
  // (rate-limits.test.ts) would answer them 429 instead of what each row expects.
  s = await startTestServer({ 'delay-update-secs': 0, 'job-poll-ms': 200, 'auth-failure-limit': 1_000_000, 'webhook-attempts': 1, 'webhook-timeout-ms': 2000, 'session-access-secs': 3600 });
  await seed();
});
after(async () => {
  for (const client of sockets) await client.dispose();
  if (s) await waitForJobs().catch(() => undefined);
  await s?.stop();
});

test('authorization matrix: every root field, Node type and HTTP route has a row, and every caller gets exactly what its row allows', { timeout: 900_000 }, async () => {
  const t0 = Date.now();
  table = rows();
  const keys = new Set(table.map((r) => r.key));

  // Completeness: the schema's root fields and Node types, the app's routes.
  const schema = (await gqlOk(`{ __schema {
      queryType { fields { name } } mutationType { fields { name } } subscriptionType { fields { name } }
      types { name kind interfaces { name } } } }`)).__schema;
  const schemaKeys = [
    ...schema.queryType.fields.map((f: any) => `Query.${f.name}`),
    ...schema.mutationType.fields.map((f: any) => `Mutation.${f.name}`),
    ...schema.subscriptionType.fields.map((f: any) => `Subscription.${f.name}`),
    ...schema.types.filter((t: any) => t.kind === 'OBJECT' && t.interfaces?.some((i: any) => i.name === 'Node')).map((t: any) => `Node.${t.name}`),
  ];
  const routeKeys = listRoutes(s.http.server);
  const present = new Set([...schemaKeys, ...routeKeys]);
  for (const k of present) if (!keys.has(k)) fail(null, null, `(table) | ${k} | expected a row in the policy table | got none: add one to authorization-matrix.test.ts`);
  for (const k of keys) if (!present.has(k)) fail(null, null, `(table) | ${k} | expected the schema or the app to have it | got no such field, type or route: remove or rename its row`);

  // Reads, all at once in batches; then subscriptions over WebSockets; then writes, row by row.
  const reads = table.filter((r) => r.phase === 'read').flatMap((row) => callers.map((c) => ({ row, c })));
  await inBatches(reads, 24, async ({ row, c }) => record(row, c, await settle(row.run(c))));
  const tReads = Date.now();

  const subs = table.filter((r) => r.phase === 'subscribe').flatMap((row) => callers.map((c) => ({ row, c })));
  const events = triggerEvents();
  const verdicts = await Promise.all(subs.map(({ row, c }) => settle(row.run(c))));
  await events.stop();
  subs.forEach(({ row, c }, i) => record(row, c, verdicts[i]!));
  const tSubs = Date.now();

  await waitForJobs();
  for (const row of table.filter((r) => r.phase === 'write')) await runWriteRow(row);

  const secs = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`;
  console.log(
    `authorization matrix: ${cases} cases (${table.length} rows x ${callers.length} callers), ${failures.length} wrong, ` +
      `in ${secs(t0, Date.now())} (reads ${secs(t0, tReads)}, subscriptions ${secs(tReads, tSubs)}, writes ${secs(tSubs, Date.now())})`,
  );
  const lines = failures.sort((x, y) => x.at[0] - y.at[0] || x.at[1] - y.at[1]).map((f) => f.line);
  assert.ok(failures.length === 0, `${failures.length} wrong case(s) (caller | row [probe] | expected | got):\n${lines.join('\n')}`);
});
