import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';
import type { Claims } from '../src/domain/tokens/claims.ts';
import { decodeJwt } from 'jose';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { request } from './kit/flat-manager-client.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const claims = (c: Partial<Claims>): Claims => ({ sub: '', scope: [], prefixes: [], apps: [], repos: [], exp: now() + 3600, name: 'test', ...c });
const viewerQuery = '{ viewer { name scopes tokenId } }';

async function createToken(input: Record<string, unknown>, token?: string) {
  const res = await s.gql(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) {
       __typename ... on CreateTokenPayload { token apiToken { tokenId name prefixes repos scopes parentTokenId parent { tokenId name } } }
       ... on Error { message errorType } } }`,
    { input },
    token,
  );
  assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
  return res.body.data.createToken;
}

test('the admin token answers viewer; no token and bad tokens are refused with the reason', async () => {
  const ok = await s.gql(viewerQuery);
  assert.equal(ok.body.data.viewer.name, 'bootstrap admin token');
  assert.ok(ok.body.data.viewer.scopes.includes('admin'));

  const none = await s.gql(viewerQuery, {}, null);
  assert.equal(none.body.errors[0].extensions.code, 'UNAUTHENTICATED');
  assert.equal(none.body.errors[0].extensions.reason, 'missing');

  const cases: [string, string][] = [
    [await signClaims(claims({ scope: ['build'], exp: now() - 10 }), secretKey(s.secret)), 'expired'],
    [await signClaims(claims({ scope: ['build'] }), randomBytes(32)), 'bad-signature'],
    ['not-a-jwt', 'malformed'],
  ];
  for (const [token, reason] of cases) {
    const r = await s.gql(viewerQuery, {}, token);
    assert.equal(r.body.errors[0].extensions.code, 'UNAUTHENTICATED', reason);
    assert.equal(r.body.errors[0].extensions.reason, reason);
    assert.equal(r.body.errors[0].extensions.errorType, 'invalid-token');
  }
});

test('a revoked token is refused, and so are tokens created from it', async () => {
  const parent = await createToken({ name: 'ci', scopes: ['build', 'upload', 'tokenmanagement'], durationSeconds: 3600, prefixes: ['org.example'] });
  const child = await createToken({ name: 'child', scopes: ['build'], durationSeconds: 600 }, parent.token);
  // A token keeps the name it was given; the token it came from is its parent, shown apart.
  assert.equal(parent.apiToken.name, 'ci');
  assert.deepEqual([parent.apiToken.parent?.name, parent.apiToken.parent?.tokenId], ['bootstrap admin token', parent.apiToken.parentTokenId]);
  assert.equal(child.apiToken.name, 'child');
  assert.deepEqual([child.apiToken.parentTokenId, child.apiToken.parent?.name], [parent.apiToken.tokenId, 'ci']);
  assert.deepEqual(child.apiToken.prefixes, ['org.example']);
  assert.equal((await s.gql(viewerQuery, {}, child.token)).body.data.viewer.name, 'child');
  // A parent the caller may not list is named by its id only.
  const childSeenByParent = await s.gql('query { tokens(first: 10) { edges { node { tokenId parentTokenId parent { name } } } } }', {}, parent.token);
  const rows = childSeenByParent.body.data.tokens.edges.map((e: any) => e.node);
  assert.deepEqual(rows.find((r: any) => r.tokenId === child.apiToken.tokenId)?.parent, { name: 'ci' });
  const own = rows.find((r: any) => r.tokenId === parent.apiToken.tokenId);
  assert.deepEqual([own?.parentTokenId, own?.parent], [parent.apiToken.parentTokenId, null], "the admin's token stays hidden from a non-admin");

  const revoke = await s.gql(
    `mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename ... on RevokeTokensPayload { revokedCount } } }`,
    { ids: [parent.apiToken.tokenId] },
  );
  assert.equal(revoke.body.data.revokeTokens.revokedCount, 1);
  for (const t of [parent.token, child.token]) {
    const r = await s.gql(viewerQuery, {}, t);
    assert.equal(r.body.errors[0].extensions.reason, 'revoked');
  }
});

test('a subset token can never exceed its parent', async () => {
  const parent = await createToken({ name: 'narrow', scopes: ['build', 'upload'], durationSeconds: 3600, prefixes: ['org.example'], repos: ['stable'] });
  const attempts: [Record<string, unknown>, RegExp][] = [
    [{ scopes: ['publish'] }, /scope publish/],
    [{ scopes: ['build'], prefixes: ['org.other'] }, /prefixes org.other/],
    [{ scopes: ['build'], prefixes: [''] }, /prefixes/],
    [{ scopes: ['build'], repos: ['beta'] }, /repos beta/],
    [{ scopes: ['build'], repos: [''] }, /repos \(all\)/],
    [{ scopes: ['build'], apps: ['org.other.App'] }, /apps org.other.App/],
    [{ scopes: ['build'], durationSeconds: 7200 }, /outlive/],
  ];
  for (const [extra, why] of attempts) {
    const r = await createToken({ name: 'x', durationSeconds: 60, ...extra }, parent.token);
    assert.equal(r.__typename, 'ForbiddenError', JSON.stringify(extra));
    assert.equal(r.errorType, 'token-insufficient');
    assert.match(r.message, why);
  }
  const ok = await createToken({ name: 'ok', scopes: ['upload'], durationSeconds: 60, prefixes: ['org.example.App'], apps: ['org.example.Other'] }, parent.token);
  assert.equal(ok.__typename, 'CreateTokenPayload');
  const bad = await createToken({ name: 'x', scopes: ['fly'], durationSeconds: 60 });
  assert.equal(bad.__typename, 'InvalidInputError');
});

test('createToken refuses bad input with the GraphQL input field it concerns, so a form can show it there', async () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ name: ' ', scopes: ['build'], durationSeconds: 60 }, 'name', /needs a name/],
    [{ name: 'x', scopes: ['build', 'sudo'], durationSeconds: 60 }, 'scopes', /unknown scope sudo/],
    [{ name: 'x', scopes: ['build'], durationSeconds: 0 }, 'durationSeconds', /positive whole number/],
  ];
  for (const [input, field, message] of cases) {
    const r = await createToken(input);
    assert.equal(r.__typename, 'InvalidInputError', JSON.stringify(r));
    assert.match(r.message, message);
    const full = await s.gql('mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on InvalidInputError { field } } }', { input });
    assert.equal(full.body.data.createToken.field, field, JSON.stringify(input));
  }
});

test('listing tokens needs tokenmanagement or admin scope', async () => {
  const builder = await createToken({ name: 'builder', scopes: ['build'], durationSeconds: 600 });
  const r = await s.gql('{ tokens(first: 2) { totalCount edges { node { name } } } }', {}, builder.token);
  assert.equal(r.body.errors[0].extensions.code, 'FORBIDDEN');
  assert.equal(r.body.errors[0].extensions.errorType, 'token-insufficient');
  const admin = await s.gql('{ tokens(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }');
  assert.equal(admin.body.errors, undefined, JSON.stringify(admin.body.errors));
  assert.ok(admin.body.data.tokens.totalCount >= 2);
  assert.equal(admin.body.data.tokens.edges.length, 2);
  const next = await s.gql('query($after: String) { tokens(first: 100, after: $after) { edges { node { name } } } }', { after: admin.body.data.tokens.pageInfo.endCursor });
  assert.equal(next.body.data.tokens.edges.length, admin.body.data.tokens.totalCount - 2);
});

test('tokens signed by an existing flat-manager secret work; with a jti they get a row and can be revoked', async () => {
  const jti = randomUUID();
  const external = await signClaims(claims({ scope: ['build', 'upload'], name: 'from-flat-manager', jti, repos: ['stable'] }), secretKey(s.secret));
  assert.equal((await s.gql(viewerQuery, {}, external)).body.data.viewer.tokenId, jti);
  // last_used and the first-seen row are written in the background, not by the request.
  const row = await pollFor(() => s.services.prisma.apiToken.findUnique({ where: { jti } }));
  assert.equal(row.external, true);
  assert.ok(row.lastUsedAt);
  await s.gql('mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename } }', { ids: [jti] });
  assert.equal((await s.gql(viewerQuery, {}, external)).body.errors[0].extensions.reason, 'revoked');

  const noJti = await signClaims(claims({ scope: ['build'], name: 'legacy' }), secretKey(s.secret));
  const legacy = await s.gql(viewerQuery, {}, noJti);
  assert.equal(legacy.body.data.viewer.name, 'legacy');
  assert.equal(legacy.body.data.viewer.tokenId, null);
});

test('token_subset over REST: a narrower token with a jti of its own, used as a use of its parent, dead with its parent', async () => {
  // An orchestrator's token minted elsewhere (flat-manager's secret), handing per-build upload
  // tokens to runners the way Flathub's does (`prefix`, a typo there, is ignored: prefixes are inherited).
  const parentJti = randomUUID();
  const parent = await signClaims(claims({ scope: ['build', 'upload', 'tokenmanagement'], prefixes: ['org.test'], name: 'orchestrator', jti: parentJti }), secretKey(s.secret));
  const subset = async () => {
    const r = await request('POST', `${s.url}/api/v1/token_subset`, { token: parent, json: { name: 'upload', sub: 'build/12345', scope: ['upload'], prefix: ['org.test.App'], duration: 600 } });
    assert.equal(r.status, 200, r.text);
    return r.body.token as string;
  };
  const child = await subset();
  const c = decodeJwt(child);
  assert.deepEqual([c.sub, c.scope, c.prefixes, c.name], ['build/12345', ['upload'], ['org.test'], 'orchestrator/upload']);
  assert.ok(typeof c.jti === 'string' && c.jti !== parentJti, 'the subset has a jti of its own');
  const tooLong = await request('POST', `${s.url}/api/v1/token_subset`, { token: parent, json: { name: 'x', sub: 'build/12345', scope: ['upload'], duration: 7200 } });
  assert.deepEqual([tooLong.status, tooLong.body['error-type']], [403, 'token-insufficient']);

  // flat-manager counts a subset's requests as uses of the parent's jti: tokens/get_list shows them.
  const lastUsed = async (jti: string) => (await request('POST', `${s.url}/api/v1/tokens/get_list`, { token: s.adminToken, json: { token_ids: [jti] } })).body[0]?.last_used as string | undefined;
  const before = await pollFor(() => lastUsed(parentJti));
  const useChild = (token: string) => request('GET', `${s.url}/api/v1/build/12345`, { token });
  await pollFor(async () => (await useChild(child)).status === 404 && (await lastUsed(parentJti))! > before, 5000, 200);

  // Revoking the subset leaves the parent alone; revoking the parent kills every subset of it.
  const revoke = (jti: string) => request('POST', `${s.url}/api/v1/tokens/revoke`, { token: s.adminToken, json: { token_ids: [jti] } });
  assert.equal((await revoke(c.jti as string)).status, 204);
  assert.equal((await useChild(child)).status, 401);
  const sibling = await subset();
  assert.equal((await useChild(sibling)).status, 404);
  assert.equal((await revoke(parentJti)).status, 204);
  const dead = await useChild(sibling);
  assert.deepEqual([dead.status, dead.body['error-type']], [401, 'invalid-token']);
});

test('subscriptions over graphql-ws authenticate in connection_init and receive events', async () => {
  const client = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, lazy: true, retryAttempts: 0 });
  const received: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    client.subscribe(
      { query: 'subscription { tokensChanged { kind tokenIds } }' },
      {
        next: (v) => {
          received.push(v);
          resolve();
        },
        error: reject,
        complete: () => undefined,
      },
    );
  });
  // The subscription is registered once the server acknowledged it; publish until seen.
  let created: any;
  await pollFor(async () => {
    if (received.length) return true;
    created = await createToken({ name: 'watched', scopes: ['build'], durationSeconds: 60 });
    return received.length > 0;
  }, 5000, 100);
  await done;
  assert.equal(received[0].data?.tokensChanged.kind, 'CREATED', JSON.stringify(received));
  assert.ok(received[0].data.tokensChanged.tokenIds[0]);
  void created;
  await client.dispose();

  // A rejected token closes the socket with 4403; no token means subscriptions are refused.
  const bad = createClient({ url: s.wsUrl, connectionParams: { authorization: 'Bearer nope' }, lazy: true, retryAttempts: 0 });
  const closeCode = await new Promise<number>((resolve) => {
    bad.on('closed', (ev) => resolve((ev as CloseEvent).code));
    bad.subscribe({ query: 'subscription { tokensChanged { kind } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
  });
  assert.equal(closeCode, 4403);
  await bad.dispose();

  const anon = createClient({ url: s.wsUrl, lazy: true, retryAttempts: 0 });
  const anonError = await new Promise<any>((resolve) => {
    anon.subscribe({ query: 'subscription { tokensChanged { kind } }' }, { next: (v) => resolve(v.errors), error: (e) => resolve(e), complete: () => undefined });
  });
  assert.equal((Array.isArray(anonError) ? anonError[0] : anonError).extensions?.code, 'UNAUTHENTICATED');
  await anon.dispose();
});

test('query depth and request size are limited', async () => {
  const nest = (n: number): string => (n === 0 ? 'name' : `tokens(first: 1) { edges { node { owner { ${nest(n - 1)} } } } }`);
  assert.equal((await s.gql(`{ ${nest(2)} }`)).body.errors, undefined);
  const tooDeep = await s.gql(`{ ${nest(4)} }`);
  assert.match(tooDeep.body.errors[0].message, /depth/i);
  const aliases = await s.gql(`{ ${Array.from({ length: 40 }, (_, i) => `a${i}: viewer { name }`).join(' ')} }`);
  assert.match(aliases.body.errors[0].message, /alias/i);
  const big = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `{ viewer { name } } # ${'x'.repeat(2 * 1024 * 1024)}` }),
  });
  assert.equal(big.status, 413);
});

test('rotating the secret: tokens of the previous secret verify until previous-secret-until, then are refused; new tokens use the new secret', async () => {
  const oldSecret = randomBytes(32).toString('base64');
  const newSecret = randomBytes(32).toString('base64');
  const oldToken = await signClaims(claims({ scope: ['build'], name: 'signed before the rotation' }), secretKey(oldSecret));
  const newToken = await signClaims(claims({ scope: ['build'], name: 'signed after' }), secretKey(newSecret));
  const stranger = await signClaims(claims({ scope: ['build'] }), randomBytes(32));
  const viewer = async (server: TestServer, token: string) => (await server.gql(viewerQuery, {}, token)).body;

  const during = await startTestServer({ secret: newSecret, 'previous-secret': oldSecret, 'previous-secret-until': new Date(Date.now() + 3_600_000).toISOString() });
  const after = await startTestServer({ secret: newSecret, 'previous-secret': oldSecret, 'previous-secret-until': new Date(Date.now() - 1000).toISOString() });
  try {
    assert.equal((await viewer(during, oldToken)).data?.viewer.name, 'signed before the rotation');
    assert.equal((await viewer(during, newToken)).data?.viewer.name, 'signed after');
    assert.equal((await viewer(during, stranger)).errors?.[0]?.extensions?.reason, 'bad-signature');
    // what it mints is signed with the new secret alone
    const minted = await createTokenOn(during, { name: 'minted during', scopes: ['download'], durationSeconds: 600 });
    assert.equal((await viewer(after, minted)).data?.viewer.name, 'minted during');

    assert.equal((await viewer(after, oldToken)).errors?.[0]?.extensions?.reason, 'bad-signature', 'the window is over');
    assert.equal((await viewer(after, newToken)).data?.viewer.name, 'signed after');
  } finally {
    await during.stop();
    await after.stop();
  }
});

async function createTokenOn(server: TestServer, input: Record<string, unknown>): Promise<string> {
  const r = await server.gql('mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on CreateTokenPayload { token } ... on Error { message } } }', { input }, server.adminToken);
  const token = r.body.data?.createToken?.token;
  assert.ok(token, JSON.stringify(r.body));
  return token;
}
