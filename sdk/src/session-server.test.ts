// The client's `session` option against a real server: a password sign-in's tokens are renewed
// before they expire and after an "expired" answer (the request then goes through), concurrent
// renewals are one, the old refresh token stops working, subscriptions start on a renewed token,
// and a session that was ended fails with an UNAUTHENTICATED error saying so.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFmdClient, FmdRequestError, isResult, type FmdSessionTokens, type SignInFieldsFragment } from './index.ts';
import { startTestServer, type TestServer } from '../test/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
  const admin = createFmdClient({ url: server.url, token: server.adminToken });
  for (const name of ['sess-a', 'sess-b', 'sess-c']) {
    // sess-b is an admin: it follows tokensChanged.
    const r = (await admin.createUser({ input: { name, password: `${name}-password`, isAdmin: name === 'sess-b' } })).createUser;
    assert.ok(isResult(r, 'CreateUserPayload'), JSON.stringify(r));
  }
});
after(async () => {
  await server?.stop();
});

async function signIn(name: string): Promise<SignInFieldsFragment> {
  const r = (await createFmdClient({ url: server.url }).signIn({ input: { username: name, password: `${name}-password` } })).signIn;
  assert.ok(isResult(r, 'SignInPayload'), JSON.stringify(r));
  return r;
}

describe('sessions in the SDK', () => {
  test('a token about to expire is renewed first; concurrent requests renew once; the old refresh token stops working', async () => {
    const s = await signIn('sess-a');
    const renewed: Required<FmdSessionTokens>[] = [];
    // Said to expire in 30 s: under the minute, so the first requests renew it.
    const soon = new Date(Date.now() + 30_000).toISOString();
    const client = createFmdClient({ url: server.url, session: { accessToken: s.accessToken, refreshToken: s.refreshToken, accessTokenExpiresAt: soon, onTokens: (t) => void renewed.push(t) } });
    const answers = await Promise.all([client.viewer(), client.viewer(), client.viewer()]);
    for (const a of answers) assert.equal(a.viewer.user?.name, 'sess-a');
    assert.equal(renewed.length, 1, 'one renewal for three requests');
    assert.notEqual(renewed[0]!.refreshToken, s.refreshToken);
    assert.deepEqual(client.sessionTokens(), renewed[0]);
    assert.ok(Date.parse(renewed[0]!.accessTokenExpiresAt) - Date.now() > 60_000, 'the new token lasts longer than the margin');
    // Further requests use the new token and renew nothing.
    await client.viewer();
    assert.equal(renewed.length, 1);
    const old = (await createFmdClient({ url: server.url }).refreshSession({ input: { refreshToken: s.refreshToken } })).refreshSession;
    assert.equal(old.__typename, 'SignInError');
    await client.close();
  });

  test('an "expired" answer renews the session and sends the request again', async () => {
    const s = await signIn('sess-b');
    // A real expired token (a one-second token, expired since) in place of the access token: the
    // client believes it good for an hour, so only the server's answer makes it renew.
    const minted = (await createFmdClient({ url: server.url, token: server.adminToken }).createToken({ input: { name: 'short', scopes: ['download'], durationSeconds: 1 } })).createToken;
    assert.ok(isResult(minted, 'CreateTokenPayload'), JSON.stringify(minted));
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await createFmdClient({ url: server.url, token: minted.token }).viewer().catch((e: unknown) => e);
    assert.ok(expired instanceof FmdRequestError && expired.errors[0]?.extensions?.reason === 'expired', String(expired));

    let renewals = 0;
    const client = createFmdClient({
      url: server.url,
      session: { accessToken: minted.token, refreshToken: s.refreshToken, accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString(), onTokens: () => void renewals++ },
    });
    const { viewer } = await client.viewer();
    assert.equal(viewer.user?.name, 'sess-b');
    assert.equal(renewals, 1);

    // A subscription opened with an expired token in connection_init: renewed and re-opened.
    const stale = createFmdClient({
      url: server.url,
      session: { accessToken: minted.token, refreshToken: client.sessionTokens()!.refreshToken, accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const events = stale.tokensChanged()[Symbol.asyncIterator]();
    const first = events.next();
    // A token change the subscription sees, made once it runs.
    const admin = createFmdClient({ url: server.url, token: server.adminToken });
    let seen: IteratorResult<unknown> | undefined;
    void first.then((r: IteratorResult<unknown>) => (seen = r));
    for (let i = 0; i < 50 && !seen; i++) {
      await admin.createToken({ input: { name: `poke ${i}`, scopes: ['download'], durationSeconds: 60 } });
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seen && !seen.done, 'the subscription delivered an event after the renewal');
    await events.return?.();
    await Promise.all([stale.close(), client.close()]);
  });

  test('after sign-out everywhere the session cannot be renewed: UNAUTHENTICATED, reason session-ended', async () => {
    const s = await signIn('sess-c');
    const client = createFmdClient({ url: server.url, session: { accessToken: s.accessToken, refreshToken: s.refreshToken } });
    const ended = (await client.signOutEverywhere()).signOutEverywhere;
    assert.ok(isResult(ended, 'SignOutEverywherePayload'), JSON.stringify(ended));
    assert.ok(ended.endedSessions >= 1);
    const err = await client.renewSession().catch((e: unknown) => e);
    assert.ok(err instanceof FmdRequestError && err.code === 'UNAUTHENTICATED', String(err));
    assert.equal(err.errors[0]?.extensions?.reason, 'session-ended');
    await assert.rejects(client.viewer(), (e: unknown) => e instanceof FmdRequestError && e.code === 'UNAUTHENTICATED');
    await client.close();
  });
});
