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

test('buildStats splits durations into queue wait, build, commit and publish from the job rows, per app, and groups failure reasons', async () => {
  const p = s.services.prisma;
  await createSignedRepo(s, 'gamma');
  const t0 = new Date(Date.now() - 3600_000);
  const at = (sec: number) => new Date(t0.getTime() + sec * 1000);
  type J = { kind: string; status?: 'ENDED' | 'BROKEN'; created: number; started?: number; finished?: number; error?: string };
  const make = async (appId: string, data: Record<string, unknown>, jobs: J[]) => {
    const { id } = await client.createBuild('gamma', appId);
    await p.build.update({ where: { id }, data: { createdAt: t0, ...data } });
    for (const j of jobs) {
      await p.job.create({
        data: { kind: j.kind, status: j.status ?? 'ENDED', buildId: id, repo: 'gamma', contents: {}, error: j.error, createdAt: at(j.created), startedAt: j.started === undefined ? null : at(j.started), finishedAt: j.finished === undefined ? null : at(j.finished) } as never,
      });
    }
    return id;
  };
  // uploaded: 60 s upload, commit waits 10 s and runs 30 s, publish waits 5 s and runs 20 s
  await make('org.a.One', { state: 'READY', publishedState: 'PUBLISHED' }, [
    { kind: 'commit', created: 60, started: 70, finished: 100 },
    { kind: 'publish', created: 110, started: 115, finished: 135 },
  ]);
  // built from git: waits 20 s, builds 300 s; its commit waits 2 s and runs 20 s
  await make('org.a.One', { state: 'READY' }, [
    { kind: 'git-build', created: 0, started: 20, finished: 320 },
    { kind: 'commit', created: 320, started: 322, finished: 342 },
  ]);
  const f1 = await make('org.b.Two', { state: 'FAILED', stateReason: 'error: Failed to download sources: 404 from https://x/12345.tar\nmore' }, []);
  const f2 = await make('org.b.Two', { state: 'FAILED', stateReason: '\nerror: Failed to download sources: 500 from https://x/999.tar' }, []);
  const f3 = await make('org.b.Two', { state: 'FAILED' }, [{ kind: 'git-build', status: 'BROKEN', created: 0, error: 'flatpak-builder: exit code 1\nsomething' }]);
  const f4 = await make('org.a.One', { state: 'READY', publishedState: 'FAILED' }, [{ kind: 'publish', status: 'BROKEN', created: 0, error: 'could not sign: key abc1234def expired' }]);

  const q = `query($repo: String, $days: Int) { buildStats(repo: $repo, days: $days) {
    total queueWaitSeconds buildSeconds commitSeconds publishSeconds
    days { day queueWaitSeconds buildSeconds commitSeconds publishSeconds }
    repos { repo builds succeeded failed successRate queueWaitSeconds buildSeconds commitSeconds publishSeconds }
    apps { appId builds published succeeded failed successRate queueWaitSeconds buildSeconds commitSeconds publishSeconds }
    failureReasons { reason count lastBuildNumber } } }`;
  const r = await s.gql(q, { repo: 'gamma', days: 2 });
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  const g = r.body.data.buildStats;
  const phases = { queueWaitSeconds: (15 + 22) / 2, buildSeconds: (60 + 300) / 2, commitSeconds: (30 + 20) / 2, publishSeconds: 20 };
  assert.deepEqual({ total: g.total, queueWaitSeconds: g.queueWaitSeconds, buildSeconds: g.buildSeconds, commitSeconds: g.commitSeconds, publishSeconds: g.publishSeconds }, { total: 6, ...phases });
  assert.deepEqual(g.days.find((d: { day: string }) => d.day === day(t0)), { day: day(t0), ...phases });
  assert.deepEqual(g.repos, [{ repo: 'gamma', builds: 6, succeeded: 3, failed: 3, successRate: 0.5, ...phases }]);
  assert.deepEqual(g.apps, [
    { appId: 'org.a.One', builds: 3, published: 1, succeeded: 3, failed: 0, successRate: 1, ...phases },
    { appId: 'org.b.Two', builds: 3, published: 0, succeeded: 0, failed: 3, successRate: 0, queueWaitSeconds: null, buildSeconds: null, commitSeconds: null, publishSeconds: null },
  ]);
  assert.deepEqual(g.failureReasons, [
    { reason: 'error: Failed to download sources: N from https://x/N.tar', count: 2, lastBuildNumber: f2 },
    { reason: 'could not sign: key <hash> expired', count: 1, lastBuildNumber: f4 },
    { reason: 'flatpak-builder: exit code N', count: 1, lastBuildNumber: f3 },
  ]);
  assert.ok(f1 < f2);

  // a token for other apps sees none of them
  const otherApps = await token({ scopes: ['download'], prefixes: ['org.c'] });
  const none = (await s.gql(q, { repo: 'gamma', days: 2 }, otherApps)).body.data.buildStats;
  assert.deepEqual([none.total, none.apps, none.failureReasons], [0, [], []]);
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

test('Build.actions says what the token may do in the build state now; Job.buildNumber links a job to its build', async () => {
  const { id, url } = await client.createBuild('alpha');
  const q = 'query($n: Int!) { build(number: $n) { actions jobs(first: 5) { edges { node { kind buildNumber } } } } }';
  const actions = async (t: string) => (await s.gql(q, { n: id }, t)).body.data.build?.actions;
  const uploader = await token({ scopes: ['build'], repos: ['alpha'] });
  const publisher = await token({ scopes: ['publish', 'download'], repos: ['alpha'] });
  const reader = await token({ scopes: ['download'], repos: ['alpha'] });

  assert.deepEqual(await actions(s.adminToken), ['COMMIT', 'PURGE']);
  assert.deepEqual(await actions(uploader), ['COMMIT', 'PURGE']);
  assert.deepEqual(await actions(publisher), []);
  assert.deepEqual(await actions(reader), []);

  // a commit job names its build
  const commit = await client.startJob(url, 'commit');
  await client.waitForJob(commit.url, 60_000);
  const jobs = (await s.gql(q, { n: id })).body.data.build.jobs.edges.map((e: any) => e.node);
  assert.deepEqual(jobs.find((j: any) => j.kind === 'commit'), { kind: 'commit', buildNumber: id });

  // committed (whatever the empty build's commit made of it, the state is what matters here)
  await s.services.prisma.build.update({ where: { id }, data: { state: 'READY' } });
  assert.deepEqual(await actions(s.adminToken), ['PUBLISH', 'PURGE']);
  assert.deepEqual(await actions(uploader), ['PURGE']);
  assert.deepEqual(await actions(publisher), ['PUBLISH']);
  await s.services.prisma.build.update({ where: { id }, data: { publishedState: 'PUBLISHED' } });
  assert.deepEqual(await actions(s.adminToken), ['PURGE', 'PROMOTE']);
  assert.deepEqual(await actions(publisher), ['PROMOTE']);

  // and the mutations agree: what actions leaves out is refused
  const r = await s.gql('mutation($n: Int!) { publishBuild(input: { build: $n }) { __typename } }', { n: id }, s.adminToken);
  assert.equal(r.body.data?.publishBuild?.__typename, 'WrongStateError', JSON.stringify(r.body));
});

test('createBuild and createBuildSet name invalid fields as their GraphQL input does, so a form can show the error at the field', async () => {
  const r = await s.gql('mutation($input: CreateBuildInput!) { createBuild(input: $input) { __typename ... on InvalidInputError { field message } } }', {
    input: { repo: 'alpha', appId: 'not an app id', git: { url: 'https://git.example.invalid/app.git' } },
  });
  assert.deepEqual([r.body.data?.createBuild?.__typename, r.body.data?.createBuild?.field], ['InvalidInputError', 'appId'], JSON.stringify(r.body));
  const set = await s.gql('mutation($input: CreateBuildSetInput!) { createBuildSet(input: $input) { __typename ... on InvalidInputError { field message } } }', {
    input: { repo: 'alpha', builds: [{ key: 'a', git: { url: 'https://git.example.invalid/app.git' }, appId: 'not an app id' }] },
  });
  assert.deepEqual([set.body.data?.createBuildSet?.__typename, set.body.data?.createBuildSet?.field], ['InvalidInputError', 'appId'], JSON.stringify(set.body));
});
