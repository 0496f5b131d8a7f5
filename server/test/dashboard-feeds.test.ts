// What the web dashboard reads across repos: buildStats, and the list-level subscriptions
// (buildsUpdated without a repo, jobsUpdated), each limited to what the token may read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, type Client } from 'graphql-ws';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';

let s: TestServer;
let client: FlatManagerClient;
before(async () => {
  s = await startTestServer();
  client = new FlatManagerClient(s.url, s.adminToken);
  await createSignedRepo(s, 'alpha');
  await createSignedRepo(s, 'beta');
});
after(async () => {
  await s?.stop();
});

async function token(input: Record<string, unknown>): Promise<string> {
  const r = await s.gql('mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token } ... on Error { message } } }', {
    input: { name: 'feeds', durationSeconds: 3600, ...input },
  });
  assert.equal(r.body.data?.createToken?.__typename, 'CreateTokenPayload', JSON.stringify(r.body));
  return r.body.data.createToken.token;
}

function socket(t: string): Client {
  return createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${t}` }, retryAttempts: 0, lazy: false });
}

/** Collects a subscription's events (or its error) until stopped. */
function collect<T>(c: Client, query: string, variables: Record<string, unknown> = {}) {
  const events: T[] = [];
  let error: unknown;
  const stop = c.subscribe<T>({ query, variables }, { next: (v) => (v.errors ? (error = v.errors) : events.push(v.data as T)), error: (e) => (error = e), complete: () => {} });
  return { events, error: () => error, stop };
}

const day = (d: Date) => d.toISOString().slice(0, 10);

test('buildStats counts outcomes, success rate and durations per day and per repo, over the builds the token may read', async () => {
  const p = s.services.prisma;
  const now = new Date();
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 1));
  const yesterday = new Date(today.getTime() - 86_400_000);
  const longAgo = new Date(today.getTime() - 40 * 86_400_000);
  // A history: builds made through the API, then aged and ended (with their job rows) as days of use would.
  const history: Array<{ repo: string; at: Date; state: 'READY' | 'FAILED' | 'CANCELLED' | 'UPLOADING'; seconds?: number; published?: boolean }> = [
    { repo: 'alpha', at: today, state: 'READY', seconds: 60, published: true },
    { repo: 'alpha', at: today, state: 'READY', seconds: 180 },
    { repo: 'alpha', at: today, state: 'FAILED', seconds: 30 },
    { repo: 'alpha', at: yesterday, state: 'READY', seconds: 100, published: true },
    { repo: 'beta', at: yesterday, state: 'CANCELLED' },
    { repo: 'beta', at: today, state: 'UPLOADING' },
    { repo: 'beta', at: longAgo, state: 'READY', seconds: 10 },
  ];
  for (const h of history) {
    const { id } = await client.createBuild(h.repo);
    await p.build.update({ where: { id }, data: { createdAt: h.at, state: h.state, publishedState: h.published ? 'PUBLISHED' : 'UNPUBLISHED' } });
    if (h.seconds !== undefined) {
      await p.job.create({ data: { kind: 'commit', status: h.state === 'FAILED' ? 'BROKEN' : 'ENDED', buildId: id, contents: {}, createdAt: h.at, finishedAt: new Date(h.at.getTime() + h.seconds * 1000) } as never });
    }
  }

  const q = `query($repo: String, $days: Int) { buildStats(repo: $repo, days: $days) {
    total succeeded failed cancelled running purged successRate medianDurationSeconds since truncated
    days { day succeeded failed cancelled running medianDurationSeconds maxDurationSeconds }
    repos { repo builds published } } }`;
  const all = (await s.gql(q, { days: 7 })).body.data.buildStats;
  assert.deepEqual(
    { total: all.total, succeeded: all.succeeded, failed: all.failed, cancelled: all.cancelled, running: all.running, purged: all.purged, truncated: all.truncated },
    { total: 6, succeeded: 3, failed: 1, cancelled: 1, running: 1, purged: 0, truncated: false },
  );
  assert.equal(all.successRate, 3 / 4);
  assert.equal(all.medianDurationSeconds, (60 + 100) / 2, 'median of 30, 60, 100, 180');
  assert.equal(all.days.length, 7);
  assert.equal(all.since.slice(0, 10), all.days[0].day);
  const t = all.days.at(-1);
  assert.deepEqual(t, { day: day(today), succeeded: 2, failed: 1, cancelled: 0, running: 1, medianDurationSeconds: 60, maxDurationSeconds: 180 });
  assert.deepEqual(all.days.at(-2), { day: day(yesterday), succeeded: 1, failed: 0, cancelled: 1, running: 0, medianDurationSeconds: 100, maxDurationSeconds: 100 });
  assert.deepEqual(all.repos, [
    { repo: 'alpha', builds: 4, published: 2 },
    { repo: 'beta', builds: 2, published: 0 },
  ]);

  // one repo; a wider window takes in the old build
  const beta = (await s.gql(q, { repo: 'beta', days: 60 })).body.data.buildStats;
  assert.deepEqual([beta.total, beta.succeeded, beta.successRate], [3, 1, 1]);

  // a token for alpha only counts alpha's builds, even when it asks for every repo
  const alphaOnly = await token({ scopes: ['download'], repos: ['alpha'] });
  const seen = (await s.gql(q, { days: 7 }, alphaOnly)).body.data.buildStats;
  assert.equal(seen.total, 4);
  assert.deepEqual(seen.repos.map((r: any) => r.repo), ['alpha']);

  // bad input and missing scopes
  for (const days of [0, -1, 367]) {
    const r = await s.gql(q, { days });
    assert.match(r.body.errors?.[0]?.message ?? '', /days must be a whole number from 1 to 366/, `days ${days}`);
  }
  const noScope = await token({ scopes: ['tokenmanagement'] });
  assert.equal((await s.gql(q, {}, noScope)).body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
});

test('buildsUpdated without a repo follows builds in every repo the token reads, and no others', async () => {
  const alphaOnly = await token({ scopes: ['build'], repos: ['alpha'] });
  const admin = socket(s.adminToken);
  const narrow = socket(alphaOnly);
  const q = 'subscription { buildsUpdated { number repo { name } } }';
  const all = collect<{ buildsUpdated: { number: number; repo: { name: string } } }>(admin, q);
  const some = collect<{ buildsUpdated: { number: number; repo: { name: string } } }>(narrow, q);
  try {
    // both subscriptions are live once an event of a build each may see arrives
    const a = await client.createBuild('alpha');
    const b = await client.createBuild('beta');
    await pollFor(async () => {
      for (const x of [a, b]) await request('POST', `${x.url}/add_extra_ids`, { token: s.adminToken, json: { ids: [`org.test.Ping${Date.now()}`] } });
      const got = (x: typeof all, id: number) => x.events.some((e) => e.buildsUpdated.number === id);
      return got(all, a.id) && got(all, b.id) && got(some, a.id);
    }, 20_000, 200);
    assert.equal(all.error() ?? some.error(), undefined);
    assert.deepEqual([...new Set(some.events.map((e) => e.buildsUpdated.repo.name))], ['alpha'], 'the alpha token saw only alpha');
  } finally {
    all.stop();
    some.stop();
    await admin.dispose();
    await narrow.dispose();
  }
});

test('jobsUpdated streams job changes the token may read; jobUpdated and jobLog hide the jobs of builds it may not read', async () => {
  const buildAlpha = await token({ scopes: ['build'], repos: ['alpha'] });
  const admin = socket(s.adminToken);
  const narrow = socket(buildAlpha);
  const q = 'subscription { jobsUpdated { number kind status } }';
  const all = collect<{ jobsUpdated: { number: number; kind: string; status: string } }>(admin, q);
  const some = collect<{ jobsUpdated: { number: number; kind: string; status: string } }>(narrow, q);
  try {
    await new Promise((r) => setTimeout(r, 300)); // both subscribed (no initial event to wait for)
    const job = await s.services.jobs.enqueue('noop', { lines: 1 });
    await pollFor(() => all.events.some((e) => e.jobsUpdated.number === job.id && e.jobsUpdated.status === 'ENDED'), 20_000);
    assert.ok(all.events.filter((e) => e.jobsUpdated.number === job.id).length >= 2, 'queued or started, then ended');
    // a build token reads the jobs of its builds only: a noop job belongs to none
    assert.equal(some.events.some((e) => e.jobsUpdated.number === job.id), false);
    assert.equal(all.error() ?? some.error(), undefined);

    for (const sub of [`subscription { jobUpdated(number: ${job.id}) { number } }`, `subscription { jobLog(number: ${job.id}) { text } }`]) {
      const hidden = collect(narrow, sub);
      const err = await pollFor(() => hidden.error() as any, 10_000);
      assert.equal(err[0]?.extensions?.code, 'NOT_FOUND', `${sub}: ${JSON.stringify(err)}`);
      assert.equal(hidden.events.length, 0);
      const shown = collect(admin, sub);
      await pollFor(() => shown.events.length > 0, 10_000);
      shown.stop();
    }
  } finally {
    all.stop();
    some.stop();
    await admin.dispose();
    await narrow.dispose();
  }
});
