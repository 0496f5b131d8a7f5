// The fuzz harness shared by test/fuzz.test.ts (a bounded run) and bench/fuzz.ts (a long one): a
// real server with a signed repo, a build being uploaded, a second build to spend on destructive
// routes, a git source with its webhook secret and a token of each useful kind; and one target
// per entry point, each sending one malformed input per case:
// - every Query and Mutation root field, enumerated from the schema (a new field is fuzzed
//   without a change here), with variables made valid for its argument types and then bent;
// - GraphQL over HTTP itself (bodies that are not GraphQL requests);
// - every route the app registers under /api/v1 (read from its router), with bent bodies and ids;
// - multipart uploads, build_ref names, git push hooks of GitHub, Gitea and GitLab shape;
// - the manifest reader, called directly on bent manifest files.
//
// The checks of a case: no 5xx, no GraphQL INTERNAL_SERVER_ERROR, an answer within the time
// bound, and, when the request was refused, no change to data. Data is the database (each
// table's row count and a checksum of its rows) and the data dir's listing (paths and sizes).
// Left out, as they change on refused requests by design: the audit log (a refused write is
// audited; the harness checks instead that what a refused case added is no "ok" row),
// api_tokens.last_used_at (a refused request's valid token is still used), build_workers
// (heartbeats) and the job store's scheduling rows (agenda_jobs, which follow `jobs`). Reads
// (queries, GETs, the manifest reader) must change nothing even when they succeed; an accepted
// write (2xx, a GraphQL payload that is not an Error) may: the harness waits for the jobs it
// started and takes a new snapshot.
import http from 'node:http';
import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLScalarType,
  getNamedType,
  isCompositeType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from 'graphql';
import { buildSchema } from '../../src/graphql/index.ts';
import { secretKey, signClaims } from '../../src/domain/tokens/jwt.ts';
import type { Claims } from '../../src/domain/tokens/claims.ts';
import { InvalidInputError } from '../../src/domain/errors.ts';
import { findManifest, readManifest } from '../../src/domain/builds/git/manifest.ts';
import { startTestServer, pollFor, type TestServer } from './server.ts';
import { createSignedRepo } from './repo-fixtures.ts';
import { listRoutes } from './routes.ts';
import { makeGitApp } from './git-fixtures.ts';
import { bendKeepingType, caseRng, describe, jsonBody, manifestFile, multipartBody, mutate, pathSegment, pushEvent, refName, weirdNumber, weirdString, type Body, type Rng } from './fuzz.ts';

export type Outcome = { status: number; accepted: boolean; detail: string };
type Sent = { input: string; outcome: Outcome };
/** `readOnly`: an entry point that must change no data even when it answers 2xx (queries, GETs). */
export type Target = { name: string; readOnly?: boolean; run(r: Rng): Promise<Sent> };

export type CaseResult = { n: number; target: string; input: string; status: number; accepted: boolean; ms: number; failure: string | null };

export type Fuzzer = {
  server: TestServer;
  targets: Target[];
  /** Runs case `n` of the run seeded `seed`; target n mod targets. */
  runCase(seed: number, n: number): Promise<CaseResult>;
  /** What `act` changes in the data the cases are checked against (table and file names). */
  changesBy(act: () => Promise<unknown>): Promise<string[]>;
  /** The server still answers /healthz and /readyz. */
  alive(): Promise<boolean>;
  stop(): Promise<void>;
};

const REPO = 'fuzz';
const BRANCH = 'main';

// --- raw HTTP --------------------------------------------------------------------------------

/** Header values as a client can send them (the wire takes latin1 without CR, LF or NUL). */
function headerSafe(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.replace(/[^\x20-\x7e\x80-\xff\t]/g, '?')]));
}

type Reply = { status: number; text: string };

/** One request over node:http (bodies on GET too, as flat-manager clients send them). Status 0: no answer within `timeoutMs`. */
function send(base: string, method: string, urlPath: string, headers: Record<string, string>, body: Buffer | null, timeoutMs: number): Promise<Reply> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${urlPath}`, { method, headers: headerSafe({ ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: '<response aborted>' });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: 0, text: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', (err) => {
      // The server may close a connection whose body it refused before reading it all (EPIPE /
      // ECONNRESET after the answer): that answer, when it came, is what counts.
      clearTimeout(timer);
      resolve({ status: -1, text: `request error: ${err.message}` });
    });
    req.end(body ?? undefined);
  });
}

// --- data snapshots --------------------------------------------------------------------------

/** Tables and columns left out of the snapshot; see the header. */
// agenda_jobs and agenda_job_logs: the job store's scheduling rows, removed a moment after their
// job (in `jobs`, which is checked) ended.
const SKIP_TABLES = new Set(['audit_log', 'build_workers', '_prisma_migrations', 'agenda_jobs', 'agenda_job_logs']);
const SKIP_COLUMNS: Record<string, string[]> = { api_tokens: ['last_used_at'] };

type Snapshot = { tables: Map<string, string>; files: Map<string, number> };

async function snapshotQuery(s: TestServer): Promise<string> {
  const cols = await s.services.prisma.$queryRawUnsafe<Array<{ t: string; c: string }>>(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION`,
  );
  const byTable = new Map<string, string[]>();
  for (const { t, c } of cols) {
    if (SKIP_TABLES.has(t) || SKIP_COLUMNS[t]?.includes(c)) continue;
    byTable.set(t, [...(byTable.get(t) ?? []), c]);
  }
  return [...byTable]
    .map(([t, cs]) => `SELECT '${t}' AS t, COUNT(*) AS n, COALESCE(SUM(CRC32(CONCAT_WS('|', ${cs.map((c) => `COALESCE(HEX(\`${c}\`), '~')`).join(', ')}))), 0) AS sum FROM \`${t}\``)
    .join(' UNION ALL ');
}

async function listFiles(root: string, out = new Map<string, number>(), rel = ''): Promise<Map<string, number>> {
  const entries = await readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out.set(`${p}/`, 0);
      await listFiles(root, out, p);
    } else {
      out.set(p, await stat(path.join(root, p)).then((st) => st.size, () => -1));
    }
  }
  return out;
}

function diffSnapshots(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const [t, v] of a.tables) if (b.tables.get(t) !== v) out.push(`table ${t}: ${v} -> ${b.tables.get(t)}`);
  for (const [p, size] of a.files) if (!b.files.has(p)) out.push(`file gone: ${p}`);
  else if (b.files.get(p) !== size) out.push(`file changed: ${p} (${size} -> ${b.files.get(p)} bytes)`);
  for (const p of b.files.keys()) if (!a.files.has(p)) out.push(`file new: ${p}`);
  return out;
}

// --- GraphQL values --------------------------------------------------------------------------

type Pools = { ints: number[]; strings: string[]; ids: string[] };

/** A value valid in type for `type` (and plausible in content, from `pools`). */
function validValue(r: Rng, type: GraphQLInputType, pools: Pools, depth = 0): unknown {
  if (type instanceof GraphQLNonNull) return validValue(r, type.ofType, pools, depth);
  if (type instanceof GraphQLList) return Array.from({ length: 1 + r.int(2) }, () => validValue(r, type.ofType, pools, depth + 1));
  if (type instanceof GraphQLEnumType) return r.pick(type.getValues()).name;
  if (type instanceof GraphQLInputObjectType) {
    const o: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) {
      if (f.type instanceof GraphQLNonNull || (depth < 3 && r.chance(0.5))) o[f.name] = validValue(r, f.type, pools, depth + 1);
    }
    return o;
  }
  const scalar = type as GraphQLScalarType;
  switch (scalar.name) {
    case 'Int':
      return r.pick(pools.ints);
    case 'Float':
      return r.next() * 10;
    case 'Boolean':
      return r.chance(0.5);
    case 'ID':
      return r.pick(pools.ids);
    case 'DateTime':
      return new Date(Date.UTC(2026, 0, 1 + r.int(300))).toISOString();
    case 'JSON':
      return {};
    default:
      return r.pick(pools.strings);
  }
}

function inputKeys(type: GraphQLInputType, out = new Set<string>(), seen = new Set<string>()): string[] {
  const named = getNamedType(type);
  if (named instanceof GraphQLInputObjectType && !seen.has(named.name)) {
    seen.add(named.name);
    for (const f of Object.values(named.getFields())) {
      out.add(f.name);
      inputKeys(f.type, out, seen);
    }
  }
  return [...out];
}

// Mutations that would spend the fixtures if a bent input were accepted: their values never name
// a fixture (they reach validation and not-found, never the target).
const DESTRUCTIVE = new Set(['deleteRepo', 'deleteKey', 'revokeTokens', 'purgeBuild', 'deleteGitSource', 'deleteGitCredential', 'rotateGitSourceSecret', 'setRepoKey', 'cancelBuild', 'updateRepo', 'pruneRepo', 'cancelJob', 'commitBuild', 'publishBuild']);

// --- the harness -----------------------------------------------------------------------------

export async function startFuzzer(o: { timeoutMs?: number } = {}): Promise<Fuzzer> {
  const timeoutMs = o.timeoutMs ?? 20_000;
  const work = await mkdtemp(path.join(os.tmpdir(), 'fmd-fuzz-'));
  const s = await startTestServer({
    'git-url-schemes': ['https', 'ssh', 'file'],
    'delay-update-secs': 0,
    'job-poll-ms': 200,
    // Refusals are what the fuzz sends: the limits would answer 429 to all of them after the first few.
    'auth-failure-limit': 0,
    'upload-requests-per-token': 0,
    'upload-requests-per-ip': 0,
    'upload-bytes-per-token': 0,
    'upload-bytes-per-ip': 0,
  });
  await createSignedRepo(s, REPO);

  const gqlOk = async (query: string, variables: Record<string, unknown> = {}) => {
    const r = await s.gql(query, variables);
    if (r.body.errors) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(r.body.errors)}`);
    return r.body.data;
  };
  const token = async (scopes: string[], repos = [REPO]) =>
    (await gqlOk(`mutation($i: CreateTokenInput!) { createToken(input: $i) { ... on CreateTokenPayload { token } ... on Error { message } } }`, {
      i: { name: `fuzz ${scopes.join(',')}`, scopes, repos, prefixes: [''], durationSeconds: 3600 },
    })).createToken.token as string;
  const tokens: Record<string, string | null> = {
    admin: s.adminToken,
    uploader: await token(['build', 'upload', 'publish', 'jobs', 'reviewcheck', 'republish', 'tokenmanagement', 'generate']),
    reader: await token(['download']),
    none: null,
    garbage: `${s.adminToken.slice(0, -4)}AAAA`,
  };
  // Two callers whose credentials are made per case: a token signed with the server's own
  // secret whose claims are bent (a flat-manager sharing the secret could mint one), and an
  // Authorization header that is not a bearer token at all. The forged tokens share one jti,
  // whose row (made the first time fmd sees an outside token) exists before the cases run.
  const key = secretKey(s.secret);
  const forgedClaims = { sub: '', scope: ['build', 'upload', 'download'], prefixes: [''], apps: [], repos: [REPO], exp: Math.floor(Date.now() / 1000) + 7200, name: 'fuzz forged', jti: 'fuzz-forged' };
  const seen = await s.gql('{ viewer { tokenId } }', {}, await signClaims(forgedClaims, key));
  if (seen.body.data?.viewer?.tokenId !== 'fuzz-forged') throw new Error(`the forged token: ${JSON.stringify(seen.body)}`);
  await pollFor(async () => (await s.services.prisma.apiToken.count({ where: { jti: 'fuzz-forged' } })) === 1, 10_000, 50);
  const perCase: Record<string, (r: Rng) => Promise<string>> = {
    async forged(r) {
      const bent = mutate(r, forgedClaims, Object.keys(forgedClaims));
      // signClaims signs an object's claims: a value bent into something else goes in as `sub`.
      const claims = bent && typeof bent === 'object' && !Array.isArray(bent) ? (bent as Record<string, unknown>) : { ...forgedClaims, sub: bent };
      claims.jti = 'fuzz-forged';
      return `Bearer ${await signClaims(claims as Claims, key)}`;
    },
    async weird(r) {
      const t = tokens.admin!;
      return r.pick([
        `Bearer ${t} ${t}`,
        `bearer ${t}`,
        `Basic ${Buffer.from(`x:${t}`).toString('base64')}`,
        `Bearer ${t.split('.').slice(0, 2).join('.')}.`,
        `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${t.split('.')[1]}.`,
        `Bearer ${'a'.repeat(r.pick([10, 9000]))}`,
        `Bearer ${weirdString(r, t)}`,
        'Bearer',
        'Bearer ',
        `Token ${t}`,
      ]);
    },
  };
  const callerNames = [...Object.keys(tokens), ...Object.keys(perCase)];
  let caseAuth: string | null = null;
  const auth = (name: string): Record<string, string> => {
    if (name in perCase) return caseAuth ? { authorization: caseAuth } : {};
    return tokens[name] ? { authorization: `Bearer ${tokens[name]}` } : {};
  };
  /** The case's caller: its per-case credentials are made here, before its request is. */
  const pickCaller = async (r: Rng, from: readonly string[] = callerNames): Promise<string> => {
    const who = r.pick(from);
    caseAuth = who in perCase ? await perCase[who]!(r) : null;
    return who;
  };
  const shown = (who: string) => (who in perCase ? `${who} (${describe(caseAuth, 300)})` : who);

  // The build being uploaded (never spent) and the one destructive routes may spend.
  const restJson = async (method: string, p: string, body: unknown, who = 'uploader') => {
    const r = await send(s.url, method, `/api/v1${p}`, { 'content-type': 'application/json', ...auth(who) }, Buffer.from(JSON.stringify(body)), timeoutMs);
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    return JSON.parse(r.text);
  };
  const build = (await restJson('POST', '/build', { repo: REPO })).id as number;
  const spare = (await restJson('POST', '/build', { repo: REPO })).id as number;
  const buildNode = (await gqlOk(`query($n: Int!) { build(number: $n) { id } }`, { n: build })).build.id as string;
  const keyId = (await gqlOk(`{ keys(first: 1) { edges { node { id } } } }`)).keys.edges[0].node.id as string;

  // A git source whose repository is a local git repo; its webhook secret signs good hooks.
  const app = await makeGitApp({ dir: path.join(work, 'git-app') });
  const registered = (
    await gqlOk(
      `mutation($i: RegisterGitSourceInput!) { registerGitSource(input: $i) { __typename ... on RegisterGitSourcePayload { secret gitSource { id number } } ... on Error { message } } }`,
      { i: { repo: REPO, url: app.url, branch: BRANCH, manifestPath: app.manifestPath } },
    )
  ).registerGitSource;
  if (!registered.secret) throw new Error(`registerGitSource: ${JSON.stringify(registered)}`);
  const source = { number: registered.gitSource.number as number, id: registered.gitSource.id as string, secret: registered.secret as string };

  const pools: Pools = {
    ints: [build, spare, source.number, 0, 1, 30],
    strings: [REPO, 'org.test.Hello', BRANCH, app.url, 'fuzz name', app.manifestPath, 'x86_64', 'build', 'app/org.test.Hello/x86_64/stable'],
    ids: [buildNode, keyId, source.id, registered.gitSource.id, 'QnVpbGQ6MQ==', '1'],
  };
  const strangerPools: Pools = {
    ints: [999_999, 0, -1, 2 ** 31 - 1],
    strings: ['no-such-repo', 'org.test.None', 'fuzz-nothing', randomUUID()],
    ids: ['QnVpbGQ6OTk5OTk5', 'U2lnbmluZ0tleTp4', 'Z2l0U291cmNlOjk5OTk5', 'x'],
  };

  // --- snapshots ---
  const query = await snapshotQuery(s);
  const snapshot = async (): Promise<Snapshot> => {
    const rows = await s.services.prisma.$queryRawUnsafe<Array<{ t: string; n: bigint; sum: unknown }>>(query);
    return { tables: new Map(rows.map((x) => [x.t, `${x.n}/${String(x.sum)}`])), files: await listFiles(s.config.dataDir) };
  };
  const lastAuditId = async (): Promise<number> => (await s.services.prisma.auditEntry.aggregate({ _max: { id: true } }))._max.id ?? 0;
  const quiet = () =>
    pollFor(async () => (await s.services.prisma.job.count({ where: { status: { in: ['NEW', 'STARTED'] } } })) === 0, 120_000, 50);

  const targets: Target[] = [];
  const schema = buildSchema();

  // --- GraphQL root fields ---
  const postGraphql = async (r: Rng, body: unknown, who: string): Promise<{ reply: Reply; how: string }> => {
    const b: Body = r.chance(0.15) ? jsonBody(r, body) : { bytes: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' }, how: 'json' };
    const reply = await send(s.url, 'POST', '/graphql', { ...b.headers, ...auth(who) }, b.bytes, timeoutMs);
    return { reply, how: b.how };
  };
  const errorTypes = new Set(schema.getImplementations(schema.getType('Error') as never).objects.map((t) => t.name));
  const graphqlOutcome = (reply: Reply, field: string): Outcome => {
    let body: { data?: Record<string, { __typename?: string } | null> | null; errors?: Array<{ extensions?: { code?: string }; message?: string }> } | null = null;
    try {
      body = JSON.parse(reply.text);
    } catch {
      // not JSON: fine for a 4xx, judged by its status below
    }
    const internal = body?.errors?.find((e) => e.extensions?.code === 'INTERNAL_SERVER_ERROR');
    if (internal) return { status: 500, accepted: false, detail: `INTERNAL_SERVER_ERROR: ${internal.message}` };
    const value = body?.data?.[field];
    const accepted = reply.status === 200 && !body?.errors?.length && value !== undefined && !(value && value.__typename && errorTypes.has(value.__typename));
    const codes = body?.errors?.map((e) => e.extensions?.code ?? '?').join(',');
    return { status: reply.status, accepted, detail: codes ? `errors ${codes}: ${body?.errors?.[0]?.message?.slice(0, 200)}` : value?.__typename ?? reply.text.slice(0, 200) };
  };
  for (const [kind, type] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    for (const field of Object.values((type as GraphQLObjectType).getFields()) as Array<GraphQLField<unknown, unknown>>) {
      const keys = field.args.flatMap((a) => [a.name, ...inputKeys(a.type)]);
      const selection = isCompositeType(getNamedType(field.type)) ? ' { __typename }' : '';
      const vars = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
      const args = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
      const text = `${kind}${vars ? `(${vars})` : ''} { ${field.name}${args ? `(${args})` : ''}${selection} }`;
      const p = kind === 'mutation' && DESTRUCTIVE.has(field.name) ? strangerPools : pools;
      targets.push({
        name: `${kind === 'query' ? 'Query' : 'Mutation'}.${field.name}`,
        readOnly: kind === 'query',
        async run(r) {
          const valid = Object.fromEntries(field.args.map((a) => [a.name, validValue(r, a.type, p)]));
          // Half the cases keep every type and come from a caller who may (past the schema, into the rules).
          const typed = r.chance(0.5);
          const variables = typed ? bendKeepingType(r, valid) : r.chance(0.9) ? mutate(r, valid, keys) : valid;
          const who = await pickCaller(r, typed ? ['admin', 'admin', 'uploader'] : callerNames);
          const { reply, how } = await postGraphql(r, { query: text, variables }, who);
          return { input: `${shown(who)} ${how} ${text} ${describe(variables)}`, outcome: graphqlOutcome(reply, field.name) };
        },
      });
    }
  }

  // --- GraphQL over HTTP: requests that are not GraphQL requests ---
  targets.push({
    name: 'POST /graphql (protocol)',
    readOnly: true,
    async run(r) {
      const who = await pickCaller(r);
      const bodies: unknown[] = [
        { query: weirdString(r, '{ viewer { __typename } }') },
        { query: `{ ${'viewer { __typename } '.repeat(1)}`.padEnd(r.pick([10, 20_000]), '{') },
        { query: `query { ${Array.from({ length: r.pick([10, 5000]), }, (_, i) => `a${i}: viewer { __typename }`).join(' ')} }` },
        { query: `query { ${'node(id: "x") { ... on Build { repo { builds(first: 1) { edges { node { '.repeat(r.pick([3, 40]))} id } } } } } }` },
        { query: '{ viewer { __typename } }', variables: anyJson(r) },
        { query: '{ viewer { __typename } }', operationName: anyJson(r) },
        { query: anyJson(r) },
        [{ query: '{ viewer { __typename } }' }, { query: '{ viewer { __typename } }' }],
        { query: 'mutation { __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } },
        { query: 'subscription { buildUpdated(number: 1) { __typename } }' },
        { query: `query($v: ${r.pick(['Int', 'String!', '[ID!]!', 'CreateRepoInput!', 'Nope'])}) { viewer { __typename } }`, variables: { v: anyJson(r) } },
        { query: '{ __schema { types { name fields { name args { name } } } } }' },
      ];
      const body = r.pick(bodies);
      const { reply, how } = await postGraphql(r, body, who);
      return { input: `${shown(who)} ${how} ${describe(body)}`, outcome: { ...graphqlOutcome(reply, '__none__'), accepted: false } };
    },
  });
  const anyJson = (r: Rng): unknown => mutate(r, { a: 1, b: 'x', c: [1] });

  // --- REST under /api/v1 ---
  const dedicated = new Set(['POST /api/v1/build/:id/upload', 'POST /api/v1/hooks/git/:source', 'POST /api/v1/build/:id/build_ref']);
  const restBodies: Record<string, unknown> = {
    'POST /api/v1/build': { repo: REPO, 'app-id': 'org.test.Hello', 'public-download': false },
    'POST /api/v1/build/git': { repo: REPO, url: app.url, branch: BRANCH, 'app-id': app.appId, manifest: app.manifestPath, 'depends-on': [] },
    'POST /api/v1/build-set': { repo: REPO, name: 'set', builds: [{ key: 'a', url: app.url, branch: BRANCH, 'depends-on': [] }] },
    'POST /api/v1/build/:id/add_extra_ids': { ids: ['org.test.Hello.Locale'] },
    'POST /api/v1/build/:id/commit': { endoflife: 'old', endoflife_rebase: 'org.test.Other', token_type: 1 },
    'POST /api/v1/build/:id/cancel': { reason: 'fuzz' },
    'POST /api/v1/job/:id/check/review': { 'new-status': { status: 'Passed', reason: 'ok' }, 'new-results': 'x' },
    'POST /api/v1/repo/:repo/republish': { app: 'org.test.Hello', endoflife: 'x' },
    'POST /api/v1/prune': { repo: 'no-such-repo' },
    'POST /api/v1/token_subset': { sub: 'build/1', scope: ['build'], duration: 60, prefixes: ['org.test'], apps: [], repos: [REPO], name: 'sub' },
    'POST /api/v1/tokens/get_list': { token_ids: [randomUUID()] },
    'POST /api/v1/tokens/revoke': { token_ids: [randomUUID()] },
    'GET /api/v1/job/:id': { 'log-offset': 0 },
    'GET /api/v1/build/:id/commit': { 'log-offset': 0 },
  };
  // Routes that spend their build: only the spare one or ids that name nothing.
  const spends = (key: string) => /\/(commit|publish|purge|cancel|rebuild|republish|prune)$/.test(key) && key.startsWith('POST');
  const weirdId = (r: Rng, real: number[]): string =>
    r.chance(0.4) ? String(r.pick(real)) : pathSegment(r.chance(0.5) ? String(weirdNumber(r)) : weirdString(r, '1').slice(0, 300));
  const routes = listRoutes(s.http.server).filter((k) => / \/api\/v1\//.test(k) && !k.startsWith('USE') && !dedicated.has(k));
  if (routes.length < 15) throw new Error(`only ${routes.length} REST routes found: ${routes.join(', ')}`);
  for (const key of routes) {
    const [method, pattern] = key.split(' ') as [string, string];
    targets.push({
      name: key,
      readOnly: method === 'GET',
      async run(r) {
        const ids = spends(key) ? [spare] : [build, spare];
        const urlPath = pattern.replace(/:(\w+)/g, (_m, name: string) =>
          name === 'repo' ? pathSegment(r.chance(0.5) ? REPO : weirdString(r, REPO).slice(0, 300)) : weirdId(r, name === 'id' && key.includes('/job/') ? [1, 2, 3] : ids),
        );
        const valid = restBodies[key] ?? {};
        const typed = r.chance(0.4);
        const body = typed
          ? { bytes: Buffer.from(JSON.stringify(bendKeepingType(r, valid))), headers: { 'content-type': 'application/json' }, how: 'types kept' }
          : jsonBody(r, r.chance(0.9) ? mutate(r, valid, Object.keys(valid as object)) : valid);
        const who = await pickCaller(r, typed ? ['admin', 'uploader'] : callerNames);
        const search = r.chance(0.3) ? `?${queryString(r)}` : '';
        const reply = await send(s.url, method, urlPath + search, { ...body.headers, ...auth(who) }, r.chance(0.1) ? null : body.bytes, timeoutMs);
        return { input: `${shown(who)} ${method} ${(urlPath + search).slice(0, 400)} ${body.how} ${describe(body.bytes)}`, outcome: restOutcome(reply) };
      },
    });
  }

  // --- uploads, refs, hooks ---
  targets.push({
    name: 'POST /api/v1/build/:id/upload',
    async run(r) {
      const body = multipartBody(r);
      const who = await pickCaller(r, ['uploader', 'uploader', 'admin', 'reader', 'none', 'forged']);
      const id = r.chance(0.8) ? String(build) : weirdId(r, [spare]);
      const reply = await send(s.url, 'POST', `/api/v1/build/${id}/upload`, { ...body.headers, ...auth(who) }, body.bytes, timeoutMs);
      return { input: `${shown(who)} build ${id} ${body.how} ${JSON.stringify(body.headers)} ${describe(body.bytes)}`, outcome: restOutcome(reply) };
    },
  });
  targets.push({
    name: 'POST /api/v1/build/:id/build_ref',
    async run(r) {
      const ref = refName(r);
      const valid = { ref, commit: r.pick(['a'.repeat(64), 'zz', '', 'A'.repeat(64), '0'.repeat(65)]), 'build-log-url': 'https://example.org/log' };
      const value = r.chance(0.3) ? mutate(r, valid, ['ref', 'commit', 'build-log-url', 'build_log_url']) : valid;
      const body = r.chance(0.2) ? jsonBody(r, value) : { bytes: Buffer.from(JSON.stringify(value)), headers: { 'content-type': 'application/json' }, how: 'json' };
      const who = await pickCaller(r, ['uploader', 'uploader', 'admin', 'reader', 'forged']);
      const reply = await send(s.url, 'POST', `/api/v1/build/${build}/build_ref`, { ...body.headers, ...auth(who) }, body.bytes, timeoutMs);
      return { input: `${shown(who)} ${body.how} ${describe(value)}`, outcome: restOutcome(reply) };
    },
  });
  targets.push({
    name: 'POST /api/v1/hooks/git/:source',
    async run(r) {
      const forge = r.pick(['github', 'gitea', 'gitlab'] as const);
      // Mostly another branch than the source's: a good push to its own branch starts a real build (accepted).
      const body = pushEvent(r, forge, source.secret, r.chance(0.85) ? 'elsewhere' : BRANCH);
      const id = r.chance(0.85) ? String(source.number) : weirdId(r, [source.number + 1]);
      const reply = await send(s.url, 'POST', `/api/v1/hooks/git/${id}`, body.headers, body.bytes, timeoutMs);
      return { input: `source ${id} ${body.how} ${JSON.stringify(headerSafe(body.headers)).slice(0, 400)} ${describe(body.bytes)}`, outcome: restOutcome(reply) };
    },
  });

  // --- the manifest reader, called directly ---
  const manifestDir = path.join(work, 'manifests');
  targets.push({
    name: 'readManifest',
    readOnly: true,
    async run(r) {
      const file = manifestFile(r);
      const dir = path.join(manifestDir, randomUUID());
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, file.name), file.text);
      const input = `${file.how} ${file.name} ${describe(typeof file.text === 'string' ? file.text : file.text)}`;
      try {
        const rel = await findManifest(dir, { path: r.chance(0.5) ? file.name : null, appId: r.chance(0.5) ? 'org.test.FuzzApp' : null });
        await readManifest(path.join(dir, rel));
        return { input, outcome: { status: 200, accepted: false, detail: 'read' } };
      } catch (err) {
        if (err instanceof InvalidInputError) return { input, outcome: { status: 400, accepted: false, detail: err.message.slice(0, 200) } };
        return { input, outcome: { status: 500, accepted: false, detail: `not an InvalidInputError: ${(err as Error)?.stack ?? String(err)}` } };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  });

  let baseline = await snapshot();
  let auditFrom = await lastAuditId();
  return {
    server: s,
    targets,
    async runCase(seed, n) {
      const r = caseRng(seed, n);
      const target = targets[n % targets.length]!;
      const t0 = performance.now();
      let sent: Sent;
      try {
        sent = await target.run(r);
      } catch (err) {
        sent = { input: '<the harness failed to send>', outcome: { status: 0, accepted: false, detail: (err as Error)?.stack ?? String(err) } };
      }
      const ms = performance.now() - t0;
      const { status, accepted, detail } = sent.outcome;
      const failures: string[] = [];
      if (status >= 500) failures.push(`answered ${status}: ${detail}`);
      // The error boundary's net for lengths no domain rule checked: still a rule missing.
      if (/a value is too long \(/.test(detail)) failures.push(`a value too long reached the database: ${detail}`);
      if (status === 0) failures.push(`no answer: ${detail}`);
      if (ms > timeoutMs) failures.push(`took ${Math.round(ms)} ms (bound ${timeoutMs} ms)`);
      if ((accepted && !target.readOnly) || status >= 500 || status <= 0) {
        // An accepted write (or a failed case) may have started jobs: the new state is the baseline.
        await quiet();
        baseline = await snapshot();
      } else {
        const now = await snapshot();
        const changed = diffSnapshots(baseline, now);
        if (changed.length) failures.push(`a ${accepted ? 'read' : 'refused request'} (${status}: ${detail}) changed data: ${changed.slice(0, 10).join('; ')}`);
        baseline = now;
        const ok = await s.services.prisma.auditEntry.findMany({ where: { id: { gt: auditFrom }, result: 'ok' }, select: { action: true, target: true } });
        if (ok.length) failures.push(`a refused request was audited as ok: ${JSON.stringify(ok)}`);
      }
      auditFrom = await lastAuditId();
      return { n, target: target.name, input: sent.input, status, accepted, ms, failure: failures.length ? `${failures.join('\n')}\n  answer: ${detail.slice(0, 2000)}` : null };
    },
    async changesBy(act) {
      await quiet();
      const before = await snapshot();
      await act();
      await quiet();
      baseline = await snapshot();
      return diffSnapshots(before, baseline);
    },
    async alive() {
      const h = await send(s.url, 'GET', '/healthz', {}, null, timeoutMs);
      const ready = await send(s.url, 'GET', '/readyz', {}, null, timeoutMs);
      return h.status === 200 && ready.status === 200;
    },
    async stop() {
      await quiet().catch(() => undefined);
      await s.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** A REST answer: 5xx and no answer are failures; 2xx is accepted. */
function restOutcome(reply: Reply): Outcome {
  return { status: reply.status, accepted: reply.status >= 200 && reply.status < 300, detail: reply.text.slice(0, 300) };
}

/** A query string the routes' parameters (app-id, app_id, ...) may trip on: repeated, nested, odd. */
function queryString(r: Rng): string {
  const names = ['app-id', 'app_id', 'log-offset', 'repo', 'x', '__proto__', 'constructor[prototype][x]'];
  return Array.from({ length: 1 + r.int(4) }, () => {
    const name = r.pick(names) + r.pick(['', '[]', '[a]', '[a][b]', '[0]', '[__proto__]']);
    return `${pathSegment(name).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${pathSegment(r.chance(0.5) ? 'org.test.Hello' : weirdString(r, 'x').slice(0, 500))}`;
  }).join('&');
}
