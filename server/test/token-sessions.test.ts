// A WebSocket session is only as good as its token: every operation on a socket re-checks it,
// and running subscriptions end (an `error` for the operation) when it is revoked or expires,
// also when the revocation happens in another fmd process (Redis fan-out).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { redisReachable, redisUrl } from './kit/redis.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { request } from './kit/flat-manager-client.ts';

let s: TestServer;
before(async () => {
  // No workers: queued jobs stay NEW, so jobUpdated keeps running until the token ends it.
  s = await startTestServer({ 'job-workers': 0 });
  await createSignedRepo(s, 'ws');
});
after(async () => {
  await s?.stop();
});

type Outcome = { data?: any; errors?: any[] };

async function createToken(server: TestServer, input: Record<string, unknown>, token?: string): Promise<{ token: string; tokenId: string }> {
  const r = await server.gql(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token apiToken { tokenId } } ... on Error { message } } }`,
    { input },
    token,
  );
  const p = r.body.data?.createToken;
  assert.equal(p?.__typename, 'CreateTokenPayload', JSON.stringify(r.body));
  return { token: p.token, tokenId: p.apiToken.tokenId };
}

async function revoke(server: TestServer, tokenIds: string[]) {
  const r = await server.gql(`mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename ... on RevokeTokensPayload { revokedCount } } }`, { ids: tokenIds });
  assert.equal(r.body.data?.revokeTokens?.__typename, 'RevokeTokensPayload', JSON.stringify(r.body));
}

/** One socket, kept open (not lazy) so that later operations reuse it instead of reconnecting. */
function socket(server: TestServer, token: string): Client {
  return createClient({ url: server.wsUrl, connectionParams: { authorization: `Bearer ${token}` }, lazy: false, retryAttempts: 0, onNonLazyError: () => undefined });
}

/** One query or mutation over the socket: its result, or the errors of an `error` message. */
function once(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let result: Outcome | undefined;
    client.subscribe({ query, variables }, {
      next: (v) => (result = v as Outcome),
      error: (e) => (Array.isArray(e) ? resolve({ errors: e }) : reject(e)),
      complete: () => resolve(result ?? {}),
    });
  });
}

/** A running subscription: the payloads so far, and how it ended (null while it runs). */
function follow(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const sub = {
    events: [] as any[],
    ended: null as null | { errors?: any[]; completed?: true; at: number },
    toString: () => JSON.stringify({ events: sub.events, ended: sub.ended }),
  };
  client.subscribe({ query, variables }, {
    next: (v) => sub.events.push(v),
    error: (e) => (sub.ended = { errors: Array.isArray(e) ? e : [e], at: Date.now() }),
    complete: () => (sub.ended ??= { completed: true, at: Date.now() }),
  });
  return sub;
}

const unauthenticated = (errors: any[] | undefined, reason: string) => {
  assert.ok(errors?.length, 'an error');
  assert.equal(errors[0].extensions?.code, 'UNAUTHENTICATED', JSON.stringify(errors));
  assert.equal(errors[0].extensions?.reason, reason, JSON.stringify(errors));
};

const buildCount = async () => (await s.gql('{ builds(first: 1) { totalCount } }')).body.data.builds.totalCount as number;

/** A job that stays NEW (no workers run here). */
async function queuedJob(server: TestServer): Promise<number> {
  const r = await request('POST', `${server.url}/api/v1/prune`, { token: server.adminToken, json: { repo: 'ws' } });
  assert.equal(r.status, 200, r.text);
  return r.body.id as number;
}

test('after revokeTokens of its parent, an open socket refuses queries and createBuild, and its buildsUpdated and jobUpdated subscriptions end with an error', async () => {
  const parent = await createToken(s, { name: 'ws-parent', scopes: ['build', 'jobs', 'tokenmanagement'], durationSeconds: 3600 });
  const child = await createToken(s, { name: 'ws-child', scopes: ['build', 'jobs'], durationSeconds: 3000 }, parent.token);
  const client = socket(s, child.token);
  try {
    assert.equal((await once(client, '{ viewer { name } }')).data?.viewer.name, 'ws-child');

    const builds = follow(client, 'subscription { buildsUpdated(repo: "ws") { number } }');
    const job = await queuedJob(s);
    const jobs = follow(client, 'subscription($n: Int!) { jobUpdated(number: $n) { number status } }', { n: job });
    // Both are running: jobUpdated sends the job at once; buildsUpdated sees builds created now.
    await pollFor(() => jobs.events.length > 0).catch(() => assert.fail(`jobUpdated: ${jobs}`));
    await pollFor(async () => {
      if (builds.events.length) return true;
      await s.gql('mutation { createBuild(input: { repo: "ws" }) { __typename } }');
      return builds.events.length > 0;
    }, 10_000, 200);
    assert.equal(jobs.events[0].data.jobUpdated.status, 'NEW');

    await revoke(s, [parent.tokenId]);

    await pollFor(() => builds.ended && jobs.ended);
    unauthenticated(builds.ended!.errors, 'revoked');
    unauthenticated(jobs.ended!.errors, 'revoked');
    unauthenticated((await once(client, '{ viewer { name } }')).errors, 'revoked');
    const before = await buildCount();
    unauthenticated((await once(client, 'mutation { createBuild(input: { repo: "ws" }) { __typename } }')).errors, 'revoked');
    assert.equal(await buildCount(), before, 'no build was created');
  } finally {
    await client.dispose();
  }
});

test('a token revoked through REST tokens/revoke ends the subscriptions of its sockets too', async () => {
  const t = await createToken(s, { name: 'ws-rest', scopes: ['jobs'], durationSeconds: 3600 });
  const client = socket(s, t.token);
  try {
    const jobs = follow(client, 'subscription($n: Int!) { jobUpdated(number: $n) { status } }', { n: await queuedJob(s) });
    await pollFor(() => jobs.events.length > 0).catch(() => assert.fail(`jobUpdated: ${jobs}`));
    const r = await request('POST', `${s.url}/api/v1/tokens/revoke`, { token: s.adminToken, json: { token_ids: [t.tokenId] } });
    assert.equal(r.status, 204, r.text);
    await pollFor(() => jobs.ended);
    unauthenticated(jobs.ended!.errors, 'revoked');
  } finally {
    await client.dispose();
  }
});

test('a token with a short exp ends its subscription at expiry, and the socket refuses operations after it', async () => {
  const t = await createToken(s, { name: 'ws-short', scopes: ['jobs'], durationSeconds: 3 });
  const exp = JSON.parse(Buffer.from(t.token.split('.')[1]!, 'base64url').toString()).exp as number;
  const client = socket(s, t.token);
  try {
    const jobs = follow(client, 'subscription($n: Int!) { jobUpdated(number: $n) { status } }', { n: await queuedJob(s) });
    await pollFor(() => jobs.events.length > 0).catch(() => assert.fail(`jobUpdated: ${jobs}`));
    assert.equal(jobs.ended, null, 'still running before exp');
    await pollFor(() => jobs.ended, 15_000);
    unauthenticated(jobs.ended!.errors, 'expired');
    assert.ok(jobs.ended!.at >= exp * 1000 - 20, `ended ${exp * 1000 - jobs.ended!.at} ms before exp`);
    unauthenticated((await once(client, '{ viewer { name } }')).errors, 'expired');
  } finally {
    await client.dispose();
  }
});

test('tokensChanged shows a non-admin manager only the tokens it may list', async () => {
  const manager = await createToken(s, { name: 'ws-manager', scopes: ['tokenmanagement', 'build'], durationSeconds: 3600 });
  const client = socket(s, manager.token);
  try {
    const changes = follow(client, 'subscription { tokensChanged { kind tokenIds } }');
    const mine: string[] = [];
    // Running once it hears of a token the manager made.
    await pollFor(async () => {
      if (changes.events.length) return true;
      mine.push((await createToken(s, { name: 'mine', scopes: ['build'], durationSeconds: 60 }, manager.token)).tokenId);
      return changes.events.length > 0;
    }, 10_000, 200);
    const others = [(await createToken(s, { name: 'not-theirs', scopes: ['build'], durationSeconds: 60 })).tokenId];
    await revoke(s, others);
    const last = (await createToken(s, { name: 'mine-last', scopes: ['build'], durationSeconds: 60 }, manager.token)).tokenId;
    mine.push(last);
    await pollFor(() => changes.events.some((e) => e.data.tokensChanged.tokenIds.includes(last)));
    const seen = changes.events.flatMap((e) => e.data.tokensChanged.tokenIds as string[]);
    assert.ok(seen.every((id) => mine.includes(id)), `saw ${seen} of which only ${mine} are the manager's`);
  } finally {
    await client.dispose();
  }
});


test('a revocation in one process reaches the sockets and the cache of another at once (Redis)', async (t) => {
  if (!(await redisReachable())) {
    t.skip(`Redis unreachable at ${redisUrl} (set FMD_TEST_REDIS_URL)`);
    return;
  }
  // Two fmd processes on one database, each caching revocation state for 10 minutes: only the
  // event can explain a revocation seen in the other.
  // (With workers: an engine that never started a worker leaves its Redis channel connected.)
  const cache = { redis: redisUrl, 'token-revocation-cache-ms': 600_000 };
  const a = await startTestServer(cache);
  const b = await startTestServer({ ...cache, 'database-url': a.dbUrl, secret: a.secret });
  const victim = await createToken(a, { name: 'cross', scopes: ['tokenmanagement'], durationSeconds: 3600 });
  const onB = socket(b, victim.token);
  try {
    const viewerOnB = () => b.gql('{ viewer { name } }', {}, victim.token);
    const first = await viewerOnB();
    assert.equal(first.body.data?.viewer.name, 'cross', JSON.stringify(first.body));
    // A subscription on b, running: it hears of the tokens the victim creates on a.
    const sub = follow(onB, 'subscription { tokensChanged { kind } }');
    await pollFor(async () => {
      if (sub.events.length) return true;
      await createToken(a, { name: 'ping', scopes: ['tokenmanagement'], durationSeconds: 60 }, victim.token);
      return sub.events.length > 0;
    }, 10_000, 200);

    await revoke(a, [victim.tokenId]);
    await pollFor(() => sub.ended, 5000);
    unauthenticated(sub.ended!.errors, 'revoked');
    unauthenticated((await viewerOnB()).body.errors, 'revoked');
    unauthenticated((await once(onB, '{ viewer { name } }')).errors, 'revoked');
  } finally {
    await onB.dispose();
    await b.stop();
    await a.stop();
  }
});
