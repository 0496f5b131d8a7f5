import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFmdClient, FmdRequestError, isErrorResult, isResult, TokenChangeKind, type TokensChangedSubscription } from './index.ts';
import { startTestServer, type TestServer } from '../test/server.ts';

// One server for the file, started and stopped by file-level hooks (the kit drops its
// database when the file ends).
let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server?.stop();
});

describe('fmd SDK against a real server', () => {
  test('viewer answers for the admin token', async () => {
    const client = createFmdClient({ url: server.url, token: server.adminToken });
    const { viewer } = await client.viewer();
    assert.ok(viewer.scopes.includes('admin'));
    assert.equal(viewer.user?.isAdmin, true);
    assert.equal(typeof viewer.tokenId, 'string');
  });

  test('accepts the endpoint URL as well as the base URL', async () => {
    const client = createFmdClient({ url: `${server.url}/graphql`, token: server.adminToken });
    assert.equal(client.endpoint, `${server.url}/graphql`);
    assert.ok((await client.viewer()).viewer.scopes.length > 0);
  });

  test('a bad token throws FmdRequestError with the status and GraphQL errors', async () => {
    const client = createFmdClient({ url: server.url, token: 'not-a-jwt' });
    const err = await client.viewer().then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof FmdRequestError);
    assert.equal(err.code, 'UNAUTHENTICATED');
    assert.equal(err.errorType, 'invalid-token');
    assert.ok(err.errors.length > 0);
    assert.match(err.message, /not authenticated/);
  });

  test('an unreachable server throws FmdRequestError with status 0', async () => {
    const client = createFmdClient({ url: 'http://127.0.0.1:1', token: server.adminToken });
    await assert.rejects(client.viewer(), (e: unknown) => e instanceof FmdRequestError && e.status === 0 && /cannot reach/.test(e.message));
  });

  test('create, list and revoke tokens', async () => {
    const client = createFmdClient({ url: server.url, token: server.adminToken });
    const created = (await client.createToken({ input: { name: 'sdk-test', scopes: ['build', 'upload'], prefixes: ['org.example'], durationSeconds: 3600 } })).createToken;
    assert.equal(created.__typename, 'CreateTokenPayload');
    if (created.__typename !== 'CreateTokenPayload') return;
    assert.deepEqual(created.apiToken.scopes, ['build', 'upload']);
    assert.deepEqual(created.apiToken.prefixes, ['org.example']);
    assert.ok(created.token.split('.').length === 3, 'a JWT');

    // The new token works and sees its own claims.
    const own = await createFmdClient({ url: server.url, token: created.token }).viewer();
    assert.equal(own.viewer.tokenId, created.apiToken.tokenId);

    const page = await client.tokens({ first: 50 });
    assert.ok(page.tokens.totalCount >= 1);
    assert.ok(page.tokens.edges.some((e) => e.node.tokenId === created.apiToken.tokenId));

    const revoked = (await client.revokeTokens({ input: { tokenIds: [created.apiToken.tokenId] } })).revokeTokens;
    assert.equal(revoked.__typename, 'RevokeTokensPayload');
    if (revoked.__typename === 'RevokeTokensPayload') {
      assert.equal(revoked.revokedCount, 1);
      assert.deepEqual(revoked.preRevokedTokenIds, []);
    }
    // An id fmd never saw: an admin pre-revokes it, answered apart from the count.
    const unknown = (await client.revokeTokens({ input: { tokenIds: ['no-such-token-id'] } })).revokeTokens;
    assert.ok(isResult(unknown, 'RevokeTokensPayload'), JSON.stringify(unknown));
    assert.equal(unknown.revokedCount, 0);
    assert.deepEqual(unknown.preRevokedTokenIds, ['no-such-token-id']);

    const active = await client.tokens({ first: 50 });
    assert.ok(!active.tokens.edges.some((e) => e.node.tokenId === created.apiToken.tokenId), 'revoked tokens are hidden by default');
    const all = await client.tokens({ first: 50, includeRevoked: true });
    const row = all.tokens.edges.find((e) => e.node.tokenId === created.apiToken.tokenId);
    assert.ok(row?.node.revokedAt, 'listed with includeRevoked and a revokedAt');

    await assert.rejects(createFmdClient({ url: server.url, token: created.token }).viewer(), (e: unknown) => e instanceof FmdRequestError && e.code === 'UNAUTHENTICATED');
  });

  test('an expected failure is a typed error result, not an exception', async () => {
    const client = createFmdClient({ url: server.url, token: server.adminToken });
    const limited = (await client.createToken({ input: { name: 'limited', scopes: ['build'], durationSeconds: 600 } })).createToken;
    assert.equal(limited.__typename, 'CreateTokenPayload');
    if (limited.__typename !== 'CreateTokenPayload') return;
    // A build-only token may not mint a token with more rights than its own.
    const result = (await createFmdClient({ url: server.url, token: limited.token }).createToken({ input: { name: 'escalate', scopes: ['admin'], durationSeconds: 600 } })).createToken;
    assert.ok(isErrorResult(result), `expected an error result, got ${result.__typename}`);
    assert.match(result.__typename, /^(ForbiddenError|InvalidInputError)$/);
    assert.ok(result.message.length > 0);
    assert.ok(result.errorType.length > 0);
  });

  test('tokensChanged delivers an event over graphql-ws', async () => {
    const client = createFmdClient({ url: server.url, token: server.adminToken });
    const events = client.tokensChanged();
    const first = events[Symbol.asyncIterator]().next();
    // The subscription is live once the server has acknowledged it; create tokens until an event arrives.
    let created: string | undefined;
    const received = await new Promise<TokensChangedSubscription>((resolve, reject) => {
      first.then((r) => (r.done ? reject(new Error('subscription ended')) : resolve(r.value)), reject);
      const tick = async () => {
        const r = (await client.createToken({ input: { name: 'sub-test', scopes: ['download'], durationSeconds: 600 } })).createToken;
        if (r.__typename === 'CreateTokenPayload') created ??= r.apiToken.tokenId;
      };
      const timer = setInterval(() => void tick().catch(reject), 200);
      void first.finally(() => clearInterval(timer));
      setTimeout(() => {
        clearInterval(timer);
        reject(new Error('no tokensChanged event within 10 s'));
      }, 10_000).unref();
    });
    assert.equal(received.tokensChanged.kind, TokenChangeKind.Created);
    assert.ok(received.tokensChanged.tokenIds.length > 0);
    await client.close();
  });

  test('onConnectionChange reports the socket opening, a loss and the reconnect; the subscription carries on after it', async () => {
    const sockets: WebSocket[] = [];
    class TrackedWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    }
    const changes: string[] = [];
    const client = createFmdClient({
      url: server.url,
      token: server.adminToken,
      webSocketImpl: TrackedWebSocket,
      reconnectAttempts: Infinity,
      onConnectionChange: (c) => changes.push(c.state === 'connecting' ? `connecting${c.retry ? ' (retry)' : ''}` : c.state === 'closed' ? `closed ${c.code}` : c.state),
    });
    const it = client.tokensChanged()[Symbol.asyncIterator]();
    const nextEvent = async () => {
      const next = it.next();
      for (let i = 0; i < 50; i++) {
        await client.createToken({ input: { name: 'conn-test', scopes: [], durationSeconds: 600 } });
        const r = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve(undefined), 200))]);
        if (r) return r;
      }
      throw new Error('no event within 10 s');
    };
    await nextEvent();
    assert.deepEqual(changes, ['connecting', 'connected']);
    // The connection drops (a close the client did not ask for): graphql-ws opens a new socket and subscribes again.
    sockets[0]!.close(3000, 'test drop');
    await nextEvent();
    assert.equal(sockets.length, 2);
    assert.deepEqual(changes, ['connecting', 'connected', 'closed 3000', 'connecting (retry)', 'connected']);
    await it.return?.();
    await client.close();
  });

  test('a subscription with a bad token fails with FmdRequestError', async () => {
    const client = createFmdClient({ url: server.url, token: 'not-a-jwt' });
    const it = client.subscribe('subscription { tokensChanged { kind } }');
    await assert.rejects(it.next(), (e: unknown) => e instanceof FmdRequestError && e.status === 4403 && /rejected the token/.test(e.message));
    await client.close();
  });
});
