// Who may see and revoke which tokens (GraphQL and flat-manager's REST), and the small rules of
// token claims: repo names are case-sensitive, `repos: []` matches no repo while `[""]` matches
// every repo, and token_subset durations are whole seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { request } from './kit/flat-manager-client.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ 'job-workers': 0 });
  await createSignedRepo(s, 'stable');
});
after(async () => {
  await s?.stop();
});

const now = () => Math.floor(Date.now() / 1000);

async function createToken(input: Record<string, unknown>, token?: string): Promise<{ token: string; tokenId: string }> {
  const r = await s.gql(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token apiToken { tokenId } } ... on Error { message } } }`,
    { input },
    token,
  );
  assert.equal(r.body.data?.createToken?.__typename, 'CreateTokenPayload', JSON.stringify(r.body));
  return { token: r.body.data.createToken.token, tokenId: r.body.data.createToken.apiToken.tokenId };
}

const revokeGql = (ids: string[], token: string) =>
  s.gql(`mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename ... on RevokeTokensPayload { revokedCount preRevokedTokenIds } ... on Error { message errorType } } }`, { ids }, token);
const revokeRest = (ids: string[], token: string) => request('POST', `${s.url}/api/v1/tokens/revoke`, { token, json: { token_ids: ids } });
const getList = async (ids: string[], token: string) => {
  const r = await request('POST', `${s.url}/api/v1/tokens/get_list`, { token, json: { token_ids: ids } });
  assert.equal(r.status, 200, r.text);
  return (r.body as { token_id: string }[]).map((t) => t.token_id).sort();
};
const listed = async (token: string) =>
  ((await s.gql('{ tokens(first: 100, includeRevoked: true) { edges { node { tokenId } } } }', {}, token)).body.data.tokens.edges as { node: { tokenId: string } }[]).map((e) => e.node.tokenId).sort();
const works = async (token: string) => (await s.gql('{ viewer { name } }', {}, token)).body.data?.viewer != null;
const adminJti = () => s.services.prisma.apiToken.findFirstOrThrow({ where: { name: 'bootstrap admin token' } }).then((r) => r.jti);

test('a non-admin tokenmanagement token sees, lists and revokes only its own token and those derived from it', async () => {
  // A manager minted by the admin (same owner as the admin's tokens), one derived from it, and a stranger's.
  const manager = await createToken({ name: 'manager', scopes: ['tokenmanagement', 'build'], durationSeconds: 3600 });
  const child = await createToken({ name: 'child', scopes: ['build', 'tokenmanagement'], durationSeconds: 600 }, manager.token);
  const grandchild = await createToken({ name: 'grandchild', scopes: ['build'], durationSeconds: 300 }, child.token);
  const other = await createToken({ name: 'other', scopes: ['build'], durationSeconds: 3600 });
  const admin = await adminJti();
  const externalJti = randomUUID();
  const external = await signClaims({ sub: '', scope: ['tokenmanagement'], prefixes: [], apps: [], repos: [], exp: now() + 3600, name: 'elsewhere', jti: externalJti }, secretKey(s.secret));
  const mine = [manager.tokenId, child.tokenId, grandchild.tokenId].sort();

  // GraphQL tokens and REST get_list apply the same rule.
  assert.deepEqual(await listed(manager.token), mine);
  assert.deepEqual(await getList([admin, other.tokenId, ...mine], manager.token), mine);
  assert.deepEqual(await getList([admin, other.tokenId, manager.tokenId], child.token), []);
  // A token minted elsewhere (no owner) sees its own row once fmd has recorded it.
  assert.ok(await works(external));
  await pollFor(async () => (await getList([externalJti], s.adminToken)).length === 1);
  assert.deepEqual(await getList([externalJti, admin, manager.tokenId], external), [externalJti]);
  assert.ok((await getList([admin, other.tokenId], s.adminToken)).length === 2, 'admins see every token');

  // Revoking a token it cannot see, the admin's included, is "not found" and revokes nothing.
  for (const target of [admin, other.tokenId, randomUUID()]) {
    const g = await revokeGql([target], manager.token);
    assert.equal(g.body.data.revokeTokens.__typename, 'NotFoundError', JSON.stringify(g.body));
    assert.equal(g.body.data.revokeTokens.errorType, 'not-found');
    const r = await revokeRest([target], manager.token);
    assert.deepEqual([r.status, r.body['error-type']], [404, 'not-found'], r.text);
  }
  const mixed = await revokeRest([grandchild.tokenId, admin], manager.token);
  assert.equal(mixed.status, 404, 'one invisible id refuses the whole request');
  assert.ok(await works(s.adminToken));
  assert.ok(await works(other.token));
  assert.ok(await works(grandchild.token), 'nothing was revoked by the refused request');
  const unknown = randomUUID();
  assert.equal(await s.services.prisma.apiToken.count({ where: { jti: unknown } }), 0);
  await revokeRest([unknown], manager.token);
  assert.equal(await s.services.prisma.apiToken.count({ where: { jti: unknown } }), 0, 'no row for a jti a non-admin named');

  // Its own descendants it may revoke, over both transports; a derived token may not revoke its parent.
  assert.equal((await revokeGql([manager.tokenId], child.token)).body.data.revokeTokens.__typename, 'NotFoundError');
  assert.equal((await revokeRest([grandchild.tokenId], manager.token)).status, 204);
  assert.equal(await works(grandchild.token), false);
  const g = await revokeGql([child.tokenId], manager.token);
  assert.equal(g.body.data.revokeTokens.revokedCount, 1);
  assert.equal(await works(child.token), false);
  assert.ok(await works(manager.token));

  // Only admins pre-revoke a jti fmd has never seen (a token minted elsewhere).
  const preRevoked = randomUUID();
  assert.equal((await revokeRest([preRevoked], s.adminToken)).status, 204);
  const minted = await signClaims({ sub: '', scope: ['build'], prefixes: [], apps: [], repos: [], exp: now() + 600, name: 'later', jti: preRevoked }, secretKey(s.secret));
  assert.equal(await works(minted), false);

  // Over GraphQL an admin is told which ids fmd had never seen (pre-revoked on purpose, or a
  // typo), apart from the known tokens it revoked; an id revoked before counts as neither.
  const victim = await createToken({ name: 'victim', scopes: ['build'], durationSeconds: 600 });
  const typo = `${victim.tokenId.slice(0, -1)}x`;
  const both = await revokeGql([victim.tokenId, typo, preRevoked], s.adminToken);
  assert.deepEqual(both.body.data.revokeTokens, { __typename: 'RevokeTokensPayload', revokedCount: 1, preRevokedTokenIds: [typo] });
  assert.equal(await works(victim.token), false);
  const again = await revokeGql([victim.tokenId], s.adminToken);
  assert.deepEqual(again.body.data.revokeTokens, { __typename: 'RevokeTokensPayload', revokedCount: 0, preRevokedTokenIds: [] });
});

test('repo names are case-sensitive: a token for STABLE reaches neither stable nor its builds', async () => {
  const upper = await createToken({ name: 'upper', scopes: ['build'], durationSeconds: 600, repos: ['STABLE'] });
  const rest = await request('POST', `${s.url}/api/v1/build`, { token: upper.token, json: { repo: 'STABLE' } });
  assert.deepEqual([rest.status, rest.body['error-type']], [404, 'not-found'], rest.text);
  const gql = await s.gql('mutation { createBuild(input: { repo: "STABLE" }) { __typename } }', {}, upper.token);
  assert.equal(gql.body.data.createBuild.__typename, 'NotFoundError', JSON.stringify(gql.body));
  assert.equal((await s.gql('{ builds(first: 1) { totalCount } }')).body.data.builds.totalCount, 0, 'no build was created');
  assert.equal((await s.gql('{ repo(name: "STABLE") { name } }')).body.data.repo, null, 'even for an admin');
  assert.equal((await s.gql('{ repos(first: 10) { totalCount } }', {}, upper.token)).body.data.repos.totalCount, 0);
  // The database agrees: STABLE is a repo of its own.
  const created = await s.gql('mutation { createRepo(input: { name: "STABLE", collectionId: "org.fmd.UpperStable" }) { __typename ... on Error { message } } }');
  assert.equal(created.body.data.createRepo.__typename, 'RepoPayload', JSON.stringify(created.body));
  const names = (await s.gql('{ repos(first: 10) { edges { node { name } } } }')).body.data.repos.edges.map((e: any) => e.node.name).sort();
  assert.deepEqual(names, ['STABLE', 'stable']);
  const ok = await request('POST', `${s.url}/api/v1/build`, { token: upper.token, json: { repo: 'STABLE' } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.repo, 'STABLE');
});

test('repos: [] matches no repo and [""] every repo, in GraphQL as in REST', async () => {
  const none = await createToken({ name: 'no-repos', scopes: ['build', 'download'], durationSeconds: 600, repos: [] });
  const all = await createToken({ name: 'all-repos', scopes: ['build', 'download'], durationSeconds: 600, repos: [''] });
  const visible = async (token: string) => (await s.gql('{ repos(first: 10) { totalCount } repo(name: "stable") { name } }', {}, token)).body.data;
  assert.deepEqual(await visible(none.token), { repos: { totalCount: 0 }, repo: null });
  const seen = await visible(all.token);
  assert.ok(seen.repos.totalCount >= 1);
  assert.equal(seen.repo.name, 'stable');
  const rest = await request('POST', `${s.url}/api/v1/build`, { token: none.token, json: { repo: 'stable' } });
  assert.deepEqual([rest.status, rest.body['error-type']], [403, 'token-insufficient']);
  const gql = await s.gql('mutation { createBuild(input: { repo: "stable" }) { __typename } }', {}, none.token);
  assert.equal(gql.body.data.createBuild.__typename, 'ForbiddenError');
  assert.equal((await request('POST', `${s.url}/api/v1/build`, { token: all.token, json: { repo: 'stable' } })).status, 200);
  const listed = async (token: string) => (await request('GET', `${s.url}/api/v1/build`, { token })).body as { repo: string }[];
  assert.ok((await listed(all.token)).some((b) => b.repo === 'stable'));
  assert.deepEqual(await listed(none.token), [], 'REST lists no build of a repo the token does not cover');
});

test('token_subset durations are whole seconds: a fractional one is a clear 400 and mints nothing', async () => {
  const before = await s.services.prisma.apiToken.count();
  for (const duration of [1.5, 600.25, 0, -5]) {
    const r = await request('POST', `${s.url}/api/v1/token_subset`, { token: s.adminToken, json: { name: 'frac', sub: '', scope: ['build'], duration } });
    assert.equal(r.status, 400, `${duration}: ${r.text}`);
    assert.match(r.body.message, /whole number of seconds/);
  }
  assert.equal(await s.services.prisma.apiToken.count(), before);
  const ok = await request('POST', `${s.url}/api/v1/token_subset`, { token: s.adminToken, json: { name: 'whole', sub: '', scope: ['build'], duration: 600 } });
  assert.equal(ok.status, 200);
  assert.ok(await works(ok.body.token));
});
