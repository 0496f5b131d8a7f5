// Rate limits through real HTTP and WebSocket requests: authentication failures per client IP
// (REST, GraphQL over HTTP, graphql-ws connection_init) are answered 429 / closed with 4429 over
// the limit while good tokens keep working, and go through again once the window has passed;
// uploads are limited per token (another token is unaffected) and per IP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Redis } from 'ioredis';
import { startTestServer, type TestServer } from './kit/server.ts';
import { redisReachable, redisUrl } from './kit/redis.ts';
import { FlatManagerClient, request, type HttpResult } from './kit/flat-manager-client.ts';

const limit = 3;
const windowSecs = 2;
/** REST and GraphQL over HTTP, with a short window to see it pass. */
let s: TestServer;
/** WebSocket and uploads, with windows that do not pass while the test runs. */
let t: TestServer;

before(async () => {
  [s, t] = await Promise.all([
    startTestServer({ 'auth-failure-limit': limit, 'auth-failure-window-secs': windowSecs, 'job-workers': 0 }),
    startTestServer({ 'auth-failure-limit': limit, 'upload-requests-per-token': 3, 'upload-requests-per-ip': 6, 'job-workers': 0 }),
  ]);
});
after(async () => {
  await Promise.all([s?.stop(), t?.stop()]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectLimited(r: HttpResult, what: RegExp): number {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.body?.status, 429, r.text);
  assert.equal(r.body['error-type'], 'generic-error', r.text);
  assert.match(r.body.message, what);
  const retryAfter = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${r.headers['retry-after']}`);
  return retryAfter;
}

async function graphql(url: string, authorization?: string): Promise<Response> {
  return fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
}

test('bad tokens from one IP: 401 up to the limit, then 429 with Retry-After on REST and GraphQL; good tokens and anonymous GraphQL still work; after the window 401 again', async () => {
  const started = Date.now();
  // A missing token, a malformed one and a bad signature: three failures.
  assert.equal((await request('GET', `${s.url}/api/v1/build`)).status, 401);
  assert.equal((await request('GET', `${s.url}/api/v1/build`, { token: 'not-a-jwt' })).status, 401);
  const badSignature = `${s.adminToken.slice(0, -4)}AAAA`;
  assert.equal((await graphql(s.url, `Bearer ${badSignature}`)).status, 200, 'GraphQL answers public fields to a bad token below the limit');
  // The fourth: refused.
  const retryAfter = expectLimited(await request('POST', `${s.url}/api/v1/build`, { token: badSignature, json: { repo: 'x' } }), /too many authentication failures/);
  assert.ok(retryAfter <= windowSecs);
  expectLimited(await request('GET', `${s.url}/api/v1/build`), /too many authentication failures/);
  const g = await graphql(s.url, `Bearer ${badSignature}`);
  assert.equal(g.status, 429);
  assert.ok(Number(g.headers.get('retry-after')) >= 1);
  const gBody = (await g.json()) as { errors: Array<{ extensions: { code: string } }> };
  assert.equal(gBody.errors[0]!.extensions.code, 'RATE_LIMITED');
  assert.ok(Date.now() - started < windowSecs * 1000, 'the requests above ran within one window (the machine is too slow for this test otherwise)');

  // Meanwhile a good token works, on both, and so does GraphQL without a token.
  assert.equal((await request('GET', `${s.url}/api/v1/build`, { token: s.adminToken })).status, 200);
  const ok = await graphql(s.url, `Bearer ${s.adminToken}`);
  assert.equal(ok.status, 200);
  assert.equal((await graphql(s.url)).status, 200);

  // After the window, a bad token is an ordinary 401 again.
  await sleep(retryAfter * 1000 + 100);
  const again = await request('GET', `${s.url}/api/v1/build`, { token: badSignature });
  assert.equal(again.status, 401, again.text);
  assert.equal(again.body['error-type'], 'invalid-token');
});

/** Opens a graphql-ws socket and sends connection_init: 'ack', or how the server closed it. */
function wsConnect(url: string, authorization: string): Promise<'ack' | { code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'graphql-transport-ws');
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization } })));
    ws.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') {
        resolve('ack');
        ws.close(1000);
      }
    });
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
    ws.on('error', reject);
  });
}

test('WebSocket connection_init with bad tokens: closed 4403 up to the limit, then 4429 with a reason; a good token still connects', async () => {
  for (let i = 0; i < limit; i++) assert.deepEqual(await wsConnect(t.wsUrl, 'Bearer nope'), { code: 4403, reason: 'Forbidden' });
  const refused = await wsConnect(t.wsUrl, 'Bearer nope');
  assert.equal(typeof refused, 'object');
  assert.equal((refused as { code: number }).code, 4429);
  assert.match((refused as { reason: string }).reason, /^Too many authentication failures; retry in \d+ s$/);
  assert.equal(await wsConnect(t.wsUrl, `Bearer ${t.adminToken}`), 'ack');
  // HTTP failures from this IP are over the limit too: the count is per IP, not per transport.
  expectLimited(await request('GET', `${t.url}/api/v1/build`, { token: 'nope' }), /too many authentication failures/);
});

test('uploads: over the per-token limit 429 while another token is unaffected; the per-IP limit counts every token', async () => {
  const admin = new FlatManagerClient(t.url, t.adminToken);
  await t.gql(`mutation { createRepo(input: { name: "stable" }) { __typename } }`);
  const build = await admin.createBuild('stable');
  const subset = await request('POST', `${t.url}/api/v1/token_subset`, { token: t.adminToken, json: { sub: 'build', scope: ['upload'], duration: 600, name: 'second' } });
  assert.equal(subset.status, 200, subset.text);
  const second: string = subset.body.token;
  // An upload of no objects: what matters is that it was counted and not refused.
  const upload = (token: string) => {
    const boundary = 'fmdtestboundary';
    return request('POST', `${build.url}/upload`, { token, body: Buffer.from(`--${boundary}--\r\n`), headers: { 'content-type': `multipart/mixed; boundary=${boundary}` } });
  };
  for (let i = 0; i < 3; i++) {
    const r = await upload(t.adminToken);
    assert.equal(r.status, 200, r.text);
  }
  expectLimited(await upload(t.adminToken), /too many uploads with this token \(more than 3 requests in 60 s\)/);
  // Another token from the same IP: its own count (IP count: 4 so far, limit 6).
  assert.equal((await upload(second)).status, 200);
  assert.equal((await upload(second)).status, 200);
  // Seven requests from this IP: the per-IP limit refuses the second token's third.
  expectLimited(await upload(second), /too many uploads from this address \(more than 6 requests in 60 s\)/);
  // Other requests of both tokens are not uploads: unaffected.
  assert.equal((await request('GET', `${build.url}`, { token: t.adminToken })).status, 200);
});


test('with Redis, two API processes share the authentication-failure count of an IP', async (t) => {
  if (!(await redisReachable())) {
    t.skip(`Redis unreachable at ${redisUrl} (set FMD_TEST_REDIS_URL)`);
    return;
  }
  // A database of its own (10-15), away from other tests' keys of 127.0.0.1 (pub/sub ignores it).
  const u = new URL(redisUrl);
  u.pathname = `/${10 + Math.floor(Math.random() * 6)}`;
  // A run of this test a moment ago left its count there: start from none.
  const redis = new Redis(u.href);
  await redis.del('fmd:ratelimit:auth:127.0.0.1');
  redis.disconnect();
  // (With workers: an engine that never started a worker leaves its Redis channel connected, as in token-sessions.test.ts.)
  const shared = { redis: u.href, 'auth-failure-limit': limit, 'auth-failure-window-secs': 30 };
  const [a, b] = await Promise.all([startTestServer(shared), startTestServer(shared)]);
  try {
    assert.equal((await request('GET', `${a.url}/api/v1/build`, { token: 'nope' })).status, 401);
    assert.equal((await request('GET', `${b.url}/api/v1/build`, { token: 'nope' })).status, 401);
    assert.equal((await graphql(a.url, 'Bearer nope')).status, 200);
    // Three failures, two on a and one on b: the fourth is refused by b.
    expectLimited(await request('GET', `${b.url}/api/v1/build`, { token: 'nope' }), /too many authentication failures/);
    expectLimited(await request('GET', `${a.url}/api/v1/build`, { token: 'nope' }), /too many authentication failures/);
    assert.equal((await request('GET', `${b.url}/api/v1/build`, { token: b.adminToken })).status, 200);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
