// Who sees what through GraphQL's generic entry points (node, nodes), and what clients are told
// about errors and limits, over HTTP and WebSocket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { signClaims, secretKey } from '../src/domain/tokens/jwt.ts';
import type { Claims } from '../src/domain/tokens/claims.ts';
import { pollFor, startTestServer, type TestServer } from './kit/server.ts';

const MAX_OPERATIONS = 3;
let s: TestServer;
before(async () => {
  s = await startTestServer({ 'max-subscriptions-per-socket': MAX_OPERATIONS });
  fx = await seed();
});
after(async () => {
  await s.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const sign = (c: Partial<Claims>) =>
  signClaims({ sub: '', scope: [], prefixes: [], apps: [], repos: [], exp: now() + 3600, name: 'test', jti: randomUUID(), ...c }, secretKey(s.secret));
const gid = (type: string, id: string | number) => Buffer.from(`${type}:${id}`).toString('base64');

async function ok<T = any>(query: string, variables?: Record<string, unknown>, token: string | null = s.adminToken): Promise<T> {
  const r = await s.gql(query, variables, token);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data;
}

type Fixture = {
  ids: Record<'build' | 'otherBuild' | 'buildJob' | 'repoJob' | 'repo' | 'otherRepo' | 'key' | 'adminToken' | 'user', number>;
};
let fx: Fixture;

async function seed(): Promise<Fixture> {
  for (const name of ['main', 'other']) {
    const r = await ok(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, { input: { name } });
    assert.equal(r.createRepo.__typename, 'RepoPayload', JSON.stringify(r));
  }
  const create = async (repo: string, appId: string) => {
    const r = await ok(`mutation($input: CreateBuildInput!) { createBuild(input: $input) { __typename ... on BuildPayload { build { number } } ... on Error { message } } }`, {
      input: { repo, appId },
    });
    assert.equal(r.createBuild.__typename, 'BuildPayload', JSON.stringify(r));
    return r.createBuild.build.number as number;
  };
  const build = await create('main', 'org.example.App');
  const otherBuild = await create('other', 'org.other.App');
  const key = await ok(`mutation { generateKey(input: { name: "k1" }) { __typename ... on KeyPayload { key { id } } } }`);
  const { prisma } = s.services;
  // Job rows as the engine writes them, without running anything.
  const buildJob = await prisma.job.create({ data: { kind: 'commit', repo: 'main', buildId: build, contents: { build } } });
  const repoJob = await prisma.job.create({ data: { kind: 'update-repo', repo: 'main', contents: { repo: 'main' } } });
  const repo = await prisma.repo.findUniqueOrThrow({ where: { name: 'main' } });
  const otherRepo = await prisma.repo.findUniqueOrThrow({ where: { name: 'other' } });
  const adminToken = await prisma.apiToken.findFirstOrThrow({ orderBy: { id: 'asc' } });
  const user = await prisma.user.findFirstOrThrow({ where: { isAdmin: true } });
  const keyId = Number(Buffer.from(key.generateKey.key.id, 'base64').toString().split(':')[1]);
  return {
    ids: { build, otherBuild, buildJob: buildJob.id, repoJob: repoJob.id, repo: repo.id, otherRepo: otherRepo.id, key: keyId, adminToken: adminToken.id, user: user.id },
  };
}

// What each Node type's own top-level query answers for a token: the reference node must match.
async function topLevel(type: string, id: number, token: string | null): Promise<boolean> {
  const q = async (query: string) => {
    const r = await s.gql(query, {}, token);
    return r.body.data ?? null;
  };
  switch (type) {
    case 'Build':
      return Boolean((await q(`{ build(number: ${id}) { number } }`))?.build);
    case 'Job':
      return Boolean((await q(`{ job(number: ${id}) { number } }`))?.job);
    case 'Repo': {
      const name = id === fx.ids.repo ? 'main' : 'other';
      return Boolean((await q(`{ repo(name: "${name}") { name } }`))?.repo);
    }
    case 'SigningKey':
      return Boolean((await q(`{ key(id: ${id}) { name } }`))?.key);
    case 'ApiToken': {
      const d = await q(`{ tokens(first: 100, includeRevoked: true) { edges { node { id } } } }`);
      return Boolean(d?.tokens?.edges.some((e: any) => e.node.id === gid('ApiToken', id)));
    }
    case 'User': {
      const d = await q(`{ viewer { user { id } } }`);
      return d?.viewer?.user?.id === gid('User', id);
    }
  }
  throw new Error(type);
}

const nodeSelection = `id
  ... on Build { number repo { name } refs { name commit } }
  ... on Job { number contents log { text } }
  ... on Repo { name hooks }
  ... on ApiToken { tokenId scopes }
  ... on User { name }
  ... on SigningKey { fingerprint }`;

test('node and nodes answer only what the type\'s own query answers, for every Node type and token', async () => {
  const cases: [string, number][] = [
    ['Build', fx.ids.build],
    ['Build', fx.ids.otherBuild],
    ['Job', fx.ids.buildJob],
    ['Job', fx.ids.repoJob],
    ['Repo', fx.ids.repo],
    ['Repo', fx.ids.otherRepo],
    ['SigningKey', fx.ids.key],
    ['ApiToken', fx.ids.adminToken],
    ['User', fx.ids.user],
  ];
  const tokens: Record<string, string | null> = {
    none: null,
    admin: s.adminToken,
    'another repo': await sign({ scope: ['build', 'download', 'jobs'], sub: 'build', repos: ['other'], prefixes: [''] }),
    'another prefix': await sign({ scope: ['build', 'download'], repos: ['main'], prefixes: ['org.other'] }),
    'its repo and prefix': await sign({ scope: ['build'], repos: ['main'], prefixes: ['org.example'] }),
    'another build (sub)': await sign({ scope: ['build', 'upload'], sub: `build/${fx.ids.otherBuild}`, repos: [''], prefixes: [''] }),
    'download only': await sign({ scope: ['download'], repos: [''], prefixes: [''] }),
    'tokenmanagement, minted elsewhere': await sign({ scope: ['tokenmanagement'], repos: [''], prefixes: [''] }),
  };
  const expectVisible: Record<string, string[]> = {
    none: [],
    admin: cases.map(([t, id]) => `${t}:${id}`),
    'another repo': [`Build:${fx.ids.otherBuild}`, `Job:${fx.ids.buildJob}`, `Job:${fx.ids.repoJob}`, `Repo:${fx.ids.otherRepo}`, `SigningKey:${fx.ids.key}`],
    'another prefix': [`Repo:${fx.ids.repo}`, `SigningKey:${fx.ids.key}`],
    'its repo and prefix': [`Build:${fx.ids.build}`, `Job:${fx.ids.buildJob}`, `Repo:${fx.ids.repo}`, `SigningKey:${fx.ids.key}`],
    'another build (sub)': [`Build:${fx.ids.otherBuild}`, `Repo:${fx.ids.repo}`, `Repo:${fx.ids.otherRepo}`, `SigningKey:${fx.ids.key}`],
    'download only': [`Build:${fx.ids.build}`, `Build:${fx.ids.otherBuild}`, `Repo:${fx.ids.repo}`, `Repo:${fx.ids.otherRepo}`, `SigningKey:${fx.ids.key}`],
    'tokenmanagement, minted elsewhere': [`Repo:${fx.ids.repo}`, `Repo:${fx.ids.otherRepo}`, `SigningKey:${fx.ids.key}`],
  };
  let checked = 0;
  for (const [who, token] of Object.entries(tokens)) {
    const ids = cases.map(([t, id]) => gid(t, id));
    // nodes: one slot per id, null where hidden; never an error for the whole list
    const many = await s.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { ${nodeSelection} } }`, { ids: [...ids, gid('Build', 999999)] }, token);
    assert.equal(many.body.errors, undefined, `${who}: ${JSON.stringify(many.body.errors)}`);
    assert.equal(many.body.data.nodes.length, ids.length + 1);
    assert.equal(many.body.data.nodes.at(-1), null, `${who}: an unknown id is null`);
    for (const [i, [type, id]] of cases.entries()) {
      const one = await s.gql(`query($id: ID!) { node(id: $id) { ${nodeSelection} } }`, { id: gid(type, id) }, token);
      assert.equal(one.body.errors, undefined, `${who} ${type}:${id}: ${JSON.stringify(one.body.errors)}`);
      const seen = one.body.data.node !== null;
      assert.equal(seen, expectVisible[who]!.includes(`${type}:${id}`), `${who} sees ${type}:${id} through node: ${seen}`);
      assert.equal(many.body.data.nodes[i] !== null, seen, `${who}: nodes agrees with node for ${type}:${id}`);
      assert.equal(await topLevel(type, id, token), seen, `${who}: node and the top-level query agree on ${type}:${id}`);
      checked++;
    }
  }
  assert.equal(checked, 72);
});

test('a malformed or unknown global id of any Node type is null or a clean error, never Prisma text', async () => {
  const types = ['ApiToken', 'Build', 'Job', 'Repo', 'SigningKey', 'User', 'Check', 'Promotion', 'NoSuchType'];
  for (const type of types) {
    for (const raw of ['xxx', '-1', '0', '1.5', '99999999999', '1e3', ' 1', '999999']) {
      for (const token of [null, s.adminToken]) {
        const r = await s.gql(`query($id: ID!) { node(id: $id) { id } nodes(ids: [$id]) { id } }`, { id: gid(type, raw) }, token);
        const text = JSON.stringify(r.body);
        assert.doesNotMatch(text, /prisma|invocation|findUnique/i, `${type}:${raw}: ${text}`);
        assert.equal(r.status, 200, text);
        if (r.body.errors) assert.ok(r.body.errors.every((e: any) => e.extensions?.code === 'BAD_USER_INPUT'), text);
        else assert.deepEqual(r.body.data, { node: null, nodes: [null] }, `${type}:${raw}`);
      }
    }
  }
  const garbage = await s.gql(`{ node(id: "not base64 at all") { id } }`);
  assert.equal(garbage.body.errors[0].extensions.code, 'BAD_USER_INPUT');
  assert.doesNotMatch(JSON.stringify(garbage.body), /prisma/i);
});

test('a promotion that vanishes between two reads leaves the list, instead of failing it', async () => {
  const { prisma, promotions } = s.services;
  const job = await prisma.job.create({ data: { kind: 'promote', repo: 'other', buildId: fx.ids.build, contents: {} } });
  await prisma.promotion.create({
    data: { buildId: fx.ids.build, sourceRepoId: fx.ids.repo, targetRepoId: fx.ids.otherRepo, state: 'PROMOTED', jobId: job.id, refs: {} },
  });
  // deleteRepo's cascade, landing right after the list was read and before its rows' relations are.
  const list = promotions.list;
  promotions.list = async (...args: Parameters<typeof list>) => {
    const rows = await list.apply(promotions, args);
    await prisma.promotion.deleteMany({ where: { buildId: fx.ids.build } });
    return rows;
  };
  try {
    const r = await s.gql(`{ build(number: ${fx.ids.build}) { promotions { number state job { number } targetRepo { name } build { number } } } }`);
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    assert.equal(r.body.data.build.promotions.length, 1);
    assert.equal(r.body.data.build.promotions[0].job.number, job.id);
  } finally {
    promotions.list = list;
  }
});

test('rows reached through a visible one follow their own rule: promotion repos, key repos, build jobs', async () => {
  const { prisma } = s.services;
  await prisma.promotion.create({ data: { buildId: fx.ids.build, sourceRepoId: fx.ids.repo, targetRepoId: fx.ids.otherRepo, state: 'PROMOTED', refs: {} } });
  await prisma.repo.update({ where: { id: fx.ids.repo }, data: { keyId: fx.ids.key } });
  await prisma.repo.update({ where: { id: fx.ids.otherRepo }, data: { keyId: fx.ids.key } });
  const query = `{ build(number: ${fx.ids.build}) { promotions { sourceRepo { name } targetRepo { name hooks } } jobs(first: 5) { edges { node { number } } } }
    key(id: ${fx.ids.key}) { repos(first: 5) { edges { node { name } } } } }`;
  const mainOnly = await sign({ scope: ['build', 'download'], repos: ['main'], prefixes: ['org.example'] });
  const downloadOnly = await sign({ scope: ['download'], repos: ['main'], prefixes: ['org.example'] });
  const admin = await ok(query);
  assert.deepEqual(admin.build.promotions.at(-1), { sourceRepo: { name: 'main' }, targetRepo: { name: 'other', hooks: admin.build.promotions.at(-1).targetRepo.hooks } });
  assert.deepEqual(admin.key.repos.edges.map((e: any) => e.node.name), ['main', 'other']);
  assert.ok(admin.build.jobs.edges.length > 0);
  const narrow = await ok(query, {}, mainOnly);
  assert.deepEqual(narrow.build.promotions.at(-1), { sourceRepo: { name: 'main' }, targetRepo: null });
  assert.deepEqual(narrow.key.repos.edges.map((e: any) => e.node.name), ['main']);
  assert.deepEqual(narrow.build.jobs, admin.build.jobs, 'a build token reads the jobs of its builds');
  const download = await ok(query, {}, downloadOnly);
  assert.deepEqual(download.build.jobs.edges, [], 'a download token reads builds, not their job logs');
});

test('totalCount of root connections counts the visible list, selected directly or in a fragment', async () => {
  // Tokens signed elsewhere get their rows when their use is flushed: let the earlier tests' land
  // first, or the list and its count below see different tables.
  await s.services.tokens.flushUsage();
  await s.services.tokens.flushUsage();
  const d = await ok(`{
    t1: tokens(first: 1, includeRevoked: true) { totalCount edges { node { id } } }
    tAll: tokens(first: 100, includeRevoked: true) { edges { node { id } } }
    tFrag: tokens(first: 1, includeRevoked: true) { ...Count }
    b1: builds(first: 1) { totalCount edges { node { number } } }
    r: repos(first: 1) { totalCount }
    k: keys(first: 1) { totalCount }
    j: jobs(first: 1) { totalCount }
  } fragment Count on QueryTokensConnection { totalCount }`);
  assert.equal(d.t1.edges.length, 1);
  assert.equal(d.t1.totalCount, d.tAll.edges.length);
  assert.equal(d.tFrag.totalCount, d.tAll.edges.length);
  assert.equal(d.b1.totalCount, await s.services.prisma.build.count());
  assert.deepEqual([d.r.totalCount, d.k.totalCount, d.j.totalCount], [2, 1, await s.services.prisma.job.count()]);
  const narrow = await ok(`{ builds(first: 1) { totalCount } }`, {}, await sign({ scope: ['build'], repos: ['main'], prefixes: ['org.example'] }));
  assert.equal(narrow.builds.totalCount, 1);
});

test('an unexpected failure answers a generic message with a request id; the log has the details', async () => {
  const logged: any[] = [];
  const log = s.services.log as any;
  const original = log.error;
  log.error = function (obj: unknown, msg?: string) {
    logged.push({ obj, msg });
  };
  const refs = s.services.repos.refs;
  s.services.repos.refs = async () => {
    throw new Error('Invalid `prisma.repo.findUniqueOrThrow()` invocation in /srv/fmd/data/repos/main');
  };
  let ws: Client | undefined;
  try {
    const r = await s.gql(`{ repo(name: "main") { name refs(first: 1) { edges { node { name } } } } }`);
    const err = r.body.errors[0];
    assert.equal(err.extensions.code, 'INTERNAL_SERVER_ERROR');
    assert.match(err.message, /^internal error \(request id [\w-]+\)$/);
    assert.doesNotMatch(JSON.stringify(r.body), /prisma|\/srv\/fmd/i);
    const entry = logged.find((l) => l.obj.requestId === err.extensions.requestId);
    assert.ok(entry, 'the log names the request id');
    assert.match(String(entry.obj.err.message), /prisma\.repo/);

    // Over WebSocket the same, with the connection's request id.
    ws = createClient({ url: s.wsUrl, connectionParams: { authorization: `Bearer ${s.adminToken}` }, lazy: true, retryAttempts: 0 });
    const result = await new Promise<any>((resolve, reject) => {
      ws!.subscribe({ query: `{ repo(name: "main") { refs(first: 1) { edges { node { name } } } } }` }, { next: resolve, error: reject, complete: () => undefined });
    });
    const wsErr = result.errors[0];
    assert.equal(wsErr.extensions.code, 'INTERNAL_SERVER_ERROR');
    assert.match(wsErr.message, /^internal error \(request id [\w-]+\)$/);
    assert.doesNotMatch(JSON.stringify(result), /prisma|\/srv\/fmd/i);
    assert.ok(logged.some((l) => l.obj.requestId === wsErr.extensions.requestId && /prisma\.repo/.test(String(l.obj.err?.message))));
  } finally {
    s.services.repos.refs = refs;
    log.error = original;
    await ws?.dispose();
  }
});

test('a syntax error and a token-limit refusal are 400s, counted as 4xx, not logged as errors', async () => {
  const logged: unknown[] = [];
  const log = s.services.log as any;
  const original = log.error;
  log.error = (obj: unknown) => logged.push(obj);
  try {
    const syntax = await s.gql('{ viewer { ', {}, null);
    assert.equal(syntax.status, 400);
    assert.equal(syntax.body.errors[0].extensions.code, 'GRAPHQL_PARSE_FAILED');
    assert.equal(syntax.body.errors[0].extensions.stacktrace, undefined);
    const many = await s.gql(`{ ${'viewer { name } '.repeat(2000)} }`, {}, null);
    assert.equal(many.status, 400);
    assert.match(many.body.errors[0].message, /5000 tokens/);
  } finally {
    log.error = original;
  }
  assert.deepEqual(logged, []);
  const metrics = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminToken}` } })).text();
  const count = metrics.match(/fmd_http_request_duration_seconds_count\{method="POST",route="\/graphql",status="400"\} (\d+)/);
  assert.ok(count && Number(count[1]) >= 2, 'the 400s are in /metrics');
  assert.doesNotMatch(metrics, /route="\/graphql",status="500"/);
});

function wsClient(token: string | null): Client {
  return createClient({ url: s.wsUrl, connectionParams: token ? { authorization: `Bearer ${token}` } : {}, lazy: true, retryAttempts: 0 });
}

function firstResult(client: Client, query: string): Promise<{ data?: any; errors?: any[] }> {
  return new Promise((resolve) => {
    client.subscribe({ query }, { next: (v) => resolve(v as any), error: (e) => resolve({ errors: Array.isArray(e) ? e : [e] }), complete: () => undefined });
  });
}

test('over WebSocket the same parse limits apply: tokens, depth and aliases, unauthenticated too', async () => {
  const anon = wsClient(null);
  try {
    // ~900 KB, 450k tokens: refused after the first 5000 tokens, as over HTTP.
    const bomb = `{ ${'a '.repeat(450_000)}}`;
    assert.ok(bomb.length > 890_000 && bomb.length < s.config.maxRequestBytes - 1000);
    const r = await firstResult(anon, bomb);
    assert.match(r.errors![0].message, /5000 tokens/);
    const nest = (n: number): string => (n === 0 ? 'name' : `tokens(first: 1) { edges { node { owner { ${nest(n - 1)} } } } }`);
    assert.match((await firstResult(anon, `{ ${nest(4)} }`)).errors![0].message, /depth/i);
    assert.match((await firstResult(anon, `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: viewer { name }`).join(' ')} }`)).errors![0].message, /alias/i);
    // The socket is still usable afterwards.
    const fine = await firstResult(anon, '{ __typename }');
    assert.deepEqual(fine.data, { __typename: 'Query' });
  } finally {
    await anon.dispose();
  }
});

test(`a socket runs at most max-subscriptions-per-socket (${MAX_OPERATIONS}) operations at once`, async () => {
  const client = wsClient(s.adminToken);
  const stops: (() => void)[] = [];
  const failures: unknown[] = [];
  try {
    for (let i = 0; i < MAX_OPERATIONS; i++) {
      stops.push(client.subscribe({ query: 'subscription { tokensChanged { kind } }' }, { next: () => undefined, error: (e) => failures.push(e), complete: () => undefined }));
    }
    const refused = await firstResult(client, 'subscription { tokensChanged { kind } }');
    assert.equal(refused.errors![0].extensions?.code, 'TOO_MANY_OPERATIONS', JSON.stringify(refused));
    // Ending one makes room again (the socket handles its messages in order).
    stops.pop()!();
    const again = await firstResult(client, '{ __typename }');
    assert.deepEqual(again.data, { __typename: 'Query' });
    assert.deepEqual(failures, [], 'the subscriptions within the limit run');
  } finally {
    for (const stop of stops) stop();
    await client.dispose();
  }
});

test('buildsUpdated over WebSocket sends only the builds the caller may read', async () => {
  const created = await ok(`mutation { createBuild(input: { repo: "main" }) { ... on BuildPayload { build { number } } } }`);
  const visible = created.createBuild.build.number as number; // no app id: any prefix covers it
  const token = await sign({ scope: ['build'], repos: ['main'], prefixes: ['org.other'] });
  const client = wsClient(token);
  const received: number[] = [];
  const failures: unknown[] = [];
  const stop = client.subscribe(
    { query: 'subscription { buildsUpdated(repo: "main") { number appId } }' },
    { next: (v: any) => received.push(v.data?.buildsUpdated?.number), error: (e) => failures.push(e), complete: () => undefined },
  );
  try {
    // Until the subscription is live: a change of a hidden build, then of a visible one.
    await pollFor(async () => {
      await s.services.builds.changed(fx.ids.build);
      await s.services.builds.changed(visible);
      return received.length > 0;
    }, 10_000, 100);
    assert.deepEqual(failures, []);
    assert.ok(received.every((n) => n === visible), `received ${JSON.stringify(received)}; build ${fx.ids.build} is org.example's`);
  } finally {
    stop();
    await client.dispose();
  }
});
