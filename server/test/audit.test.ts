// The audit log through the real interfaces: GraphQL mutations (ok, typed errors, refusals) and
// REST writes are recorded with who, what, target, result, request id and client IP; `auditLog`
// filters them, is for admins only, and no secret ever lands in a row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as openpgp from 'openpgp';
import { pollFor, startTestServer, type TestServer } from './kit/server.ts';
import { request } from './kit/flat-manager-client.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

const ENTRY = 'id number transport action tokenId tokenName subject target result requestId clientIp createdAt';

async function auditLog(args: Record<string, unknown> = {}, token?: string) {
  const r = await s.gql(
    `query($action: String, $tokenId: String, $target: String, $result: String, $since: DateTime, $until: DateTime, $first: Int) {
       auditLog(action: $action, tokenId: $tokenId, target: $target, result: $result, since: $since, until: $until, first: $first) {
         totalCount edges { node { ${ENTRY} } } } }`,
    { first: 100, ...args },
    token,
  );
  return r;
}

async function entries(args: Record<string, unknown> = {}): Promise<any[]> {
  const r = await auditLog(args);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.auditLog.edges.map((e: any) => e.node);
}

/** REST entries are written once the response has ended: wait for one. */
const entryFor = (args: Record<string, unknown>, match: (e: any) => boolean = () => true) =>
  pollFor(async () => (await entries(args)).find(match), 5000);

async function mint(name: string, scopes: string[]) {
  const r = await s.gql(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token apiToken { tokenId } } ... on Error { message } } }`,
    { input: { name, scopes, durationSeconds: 3600 } },
  );
  assert.equal(r.body.data.createToken.__typename, 'CreateTokenPayload', JSON.stringify(r.body));
  return { token: r.body.data.createToken.token as string, jti: r.body.data.createToken.apiToken.tokenId as string };
}

let adminJti = '';

test('a GraphQL mutation is recorded: action, token, target, ok, request id and client IP', async () => {
  adminJti = (await s.gql('{ viewer { tokenId } }')).body.data.viewer.tokenId;
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminToken}`, 'x-request-id': 'audit-test-create-repo' },
    body: JSON.stringify({ query: 'mutation { createRepo(input: { name: "audited" }) { __typename ... on Error { message } } }' }),
  });
  assert.equal(((await res.json()) as any).data.createRepo.__typename, 'RepoPayload');
  const [e] = await entries({ action: 'createRepo' });
  assert.ok(e, 'no createRepo entry');
  assert.equal(e.transport, 'graphql');
  assert.equal(e.result, 'ok');
  assert.equal(e.target, 'name=audited');
  assert.equal(e.tokenId, adminJti);
  assert.ok(e.tokenName);
  assert.equal(e.requestId, 'audit-test-create-repo');
  assert.match(e.clientIp, /127\.0\.0\.1/);
  assert.ok(!Number.isNaN(Date.parse(e.createdAt)));
});

test('a typed error is recorded with its errorType', async () => {
  const r = await s.gql('mutation { deleteRepo(input: { name: "no-such-repo" }) { __typename ... on Error { errorType } } }');
  assert.equal(r.body.data.deleteRepo.errorType, 'not-found');
  const [e] = await entries({ action: 'deleteRepo' });
  assert.equal(e.result, 'not-found');
  assert.equal(e.target, 'name=no-such-repo');
});

test('a refused mutation is recorded with its refusal, and a non-admin token may not read the log', async () => {
  const builder = await mint('audit builder', ['build']);
  const r = await s.gql('mutation { createRepo(input: { name: "sneaky" }) { __typename } }', {}, builder.token);
  assert.equal(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  const [e] = await entries({ action: 'createRepo', tokenId: builder.jti });
  assert.equal(e.result, 'FORBIDDEN');
  assert.equal(e.tokenName, 'audit builder');
  assert.equal(e.target, 'name=sneaky');

  const refused = await auditLog({}, builder.token);
  assert.equal(refused.body.data, null);
  assert.equal(refused.body.errors[0].extensions.code, 'FORBIDDEN');
  const anonymous = await auditLog({}, '');
  assert.equal(anonymous.body.errors[0].extensions.code, 'UNAUTHENTICATED');
  // nor by node(id)
  const node = await s.gql('query($id: ID!) { node(id: $id) { id } }', { id: e.id }, builder.token);
  assert.equal(node.body.data.node, null);
  const own = await s.gql('query($id: ID!) { node(id: $id) { ... on AuditEntry { action } } }', { id: e.id });
  assert.equal(own.body.data.node.action, 'createRepo');
});

test('REST writes are recorded with their route pattern, target and status; a refused one too', async () => {
  const uploader = await mint('audit uploader', ['build', 'upload']);
  const created = await request('POST', `${s.url}/api/v1/build`, { token: uploader.token, json: { repo: 'audited' } });
  assert.equal(created.status, 200, created.text);
  const id = created.body.id as number;
  const create = await entryFor({ action: 'POST /api/v1/build', tokenId: uploader.jti });
  assert.equal(create.transport, 'rest');
  assert.equal(create.result, '200');
  // the new build from its Location, the repo from the JSON body
  assert.equal(create.target, `build=${id} repo=audited`);
  assert.equal(create.tokenName, 'audit uploader');
  assert.ok(create.requestId);

  const commit = await request('POST', `${s.url}/api/v1/build/${id}/commit`, { token: uploader.token, json: {} });
  const c = await entryFor({ action: 'POST /api/v1/build/:id/commit' });
  assert.equal(c.target, `build=${id}`);
  assert.equal(c.result, String(commit.status));
  assert.equal(c.tokenId, uploader.jti);

  // the uploader has no publish scope: 403, recorded
  const publish = await request('POST', `${s.url}/api/v1/build/${id}/publish`, { token: uploader.token, json: {} });
  assert.equal(publish.status, 403);
  const p = await entryFor({ action: 'POST /api/v1/build/:id/publish', result: '403' });
  assert.equal(p.tokenId, uploader.jti);

  // a bad token: no one is named
  const bad = await request('POST', `${s.url}/api/v1/build/${id}/purge`, { token: 'not-a-token', json: {} });
  assert.equal(bad.status, 401);
  const b = await entryFor({ action: 'POST /api/v1/build/:id/purge' });
  assert.equal(b.result, '401');
  assert.equal(b.tokenId, null);

  // a target named only in the body, with flat-manager's snake_case keys
  const prune = await request('POST', `${s.url}/api/v1/prune`, { token: uploader.token, json: { repo: 'audited' } });
  assert.equal(prune.status, 403);
  assert.equal((await entryFor({ action: 'POST /api/v1/prune' })).target, 'repo=audited');
  const revoke = await request('POST', `${s.url}/api/v1/tokens/revoke`, { token: s.adminToken, json: { token_ids: ['a-jti', 'b-jti'] } });
  assert.equal(revoke.status, 204, revoke.text);
  assert.equal((await entryFor({ action: 'POST /api/v1/tokens/revoke' })).target, 'tokenIds=a-jti,b-jti');

  // a git push hook of an unknown source
  const hook = await request('POST', `${s.url}/api/v1/hooks/git/999`, { json: {} });
  assert.equal(hook.status, 404);
  const h = await entryFor({ action: 'POST /api/v1/hooks/git/:source' });
  assert.equal(h.target, 'gitSource=999');
  assert.equal(h.result, '404');

  // reads are not recorded
  await request('GET', `${s.url}/api/v1/build/${id}`, { token: uploader.token });
  assert.equal((await entries({ target: `build=${id}` })).filter((e) => e.action.startsWith('GET')).length, 0);
});

test('filters: action, token, target, result, since/until; newest first', async () => {
  const all = await entries();
  assert.ok(all.length >= 8);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].number > all[i].number, 'newest first');
  const mine = await entries({ tokenId: adminJti });
  assert.ok(mine.length > 0 && mine.every((e) => e.tokenId === adminJti));
  const notFound = await entries({ result: 'not-found' });
  assert.deepEqual(notFound.map((e) => e.action), ['deleteRepo']);
  const byTarget = await entries({ target: 'sneaky' });
  assert.deepEqual(byTarget.map((e) => e.target), ['name=sneaky']);
  const future = await entries({ since: new Date(Date.now() + 60_000).toISOString() });
  assert.equal(future.length, 0);
  const past = await entries({ until: new Date(Date.now() - 3_600_000).toISOString() });
  assert.equal(past.length, 0);
  const recent = await entries({ since: new Date(Date.now() - 3_600_000).toISOString(), action: 'createRepo' });
  assert.equal(recent.length, 2);
  // paging
  const page = await s.gql('{ auditLog(first: 2) { pageInfo { hasNextPage endCursor } edges { node { number } } } }');
  assert.equal(page.body.data.auditLog.edges.length, 2);
  assert.equal(page.body.data.auditLog.pageInfo.hasNextPage, true);
  const next = await s.gql('query($after: String) { auditLog(first: 2, after: $after) { edges { node { number } } } }', { after: page.body.data.auditLog.pageInfo.endCursor });
  assert.ok(next.body.data.auditLog.edges[0].node.number < page.body.data.auditLog.edges[1].node.number);
});

test('no secret is recorded: token values, passphrases, private keys, git secrets', async () => {
  const minted = await mint('audit secret token', ['build']);
  const passphrase = 'audit very secret passphrase';
  const { privateKey } = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'audit', email: 'a@example.org' }], passphrase, format: 'armored' });
  const imported = await s.gql(
    `mutation($input: ImportKeyInput!) { importKey(input: $input) { __typename ... on KeyPayload { key { id } } ... on Error { message } } }`,
    { input: { name: 'audit key', armoredPrivateKey: privateKey, passphrase } },
  );
  assert.equal(imported.body.data.importKey.__typename, 'KeyPayload', JSON.stringify(imported.body));
  const gitSecret = 'audit-https-token-s3cr3t';
  const cred = await s.gql(
    `mutation($input: CreateGitCredentialInput!) { createGitCredential(input: $input) { __typename ... on Error { message } } }`,
    { input: { repo: 'audited', name: 'audit cred', kind: 'HTTPS_TOKEN', secret: gitSecret, username: 'x' } },
  );
  assert.equal(cred.body.errors, undefined, JSON.stringify(cred.body));
  const [tokenEntry] = await entries({ action: 'createToken', target: minted.jti });
  assert.ok(tokenEntry, 'createToken names the new token id');
  assert.equal((await entries({ action: 'importKey' }))[0].target, 'name=audit key');

  const rows = await s.services.prisma.auditEntry.findMany();
  const dump = JSON.stringify(rows);
  for (const secret of [minted.token, s.adminToken, passphrase, gitSecret, 'PRIVATE KEY', privateKey.slice(40, 120)]) {
    assert.ok(!dump.includes(secret), `a secret is in the audit log: ${secret.slice(0, 12)}…`);
  }
});

test('a failing insert never fails the request (a warning is logged)', async () => {
  const audit = s.services.audit as any;
  const prisma = audit.prisma;
  const warnings: unknown[] = [];
  const log = audit.log;
  audit.prisma = { auditEntry: { create: async () => { throw new Error('audit table gone'); } } };
  audit.log = { warn: (...a: unknown[]) => warnings.push(a) };
  try {
    const r = await s.gql('mutation { updateRepo(input: { name: "audited", title: "Audited" }) { __typename ... on Error { message } } }');
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    assert.equal(r.body.data.updateRepo.__typename, 'RepoPayload');
    assert.equal(warnings.length, 1);
  } finally {
    audit.prisma = prisma;
    audit.log = log;
  }
});
