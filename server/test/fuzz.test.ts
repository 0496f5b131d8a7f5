// Fuzzing every entry point (issue 13): malformed GraphQL variables, REST JSON, multipart parts,
// ref names, manifests and push-event bodies against one real server (kit/fuzz-harness.ts says
// what is sent and checked). Fixed seed and a bounded number of cases; FUZZ_SEED and FUZZ_CASES
// override them, FUZZ_CASE=<n> replays one case. bench/fuzz.ts is the long run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { startFuzzer, type CaseResult, type Fuzzer } from './kit/fuzz-harness.ts';
import { caseRng, manifestFile, seedFrom } from './kit/fuzz.ts';
import { commitFiles, makeGitApp } from './kit/git-fixtures.ts';
import { pollFor } from './kit/server.ts';
import { ensureBuilderUser } from './kit/builder-user.ts';
import { readManifest } from '../src/domain/builds/git/manifest.ts';
import { secretKey, signClaims } from '../src/domain/tokens/jwt.ts';

const SEED = seedFrom(process.env, 0x0f4d_2026);
const CASES = Number(process.env.FUZZ_CASES ?? 900);
const ONLY = process.env.FUZZ_CASE === undefined ? null : Number(process.env.FUZZ_CASE);

let f: Fuzzer;

before(async () => {
  await ensureBuilderUser();
  f = await startFuzzer();
});
after(async () => {
  await f?.stop();
});

const replay = (c: CaseResult) => `FUZZ_SEED=${SEED} FUZZ_CASE=${c.n} (target ${c.target}, answered ${c.status})\n  input: ${c.input}\n  ${c.failure}`;

test(`fuzz: ${CASES} malformed inputs over every entry point (seed ${SEED}): no 5xx, no internal errors, answers in time, refusals change nothing`, { timeout: 900_000 }, async () => {
  assert.ok(f.targets.length > 60, `targets: ${f.targets.map((t) => t.name).join(', ')}`);
  const cases = ONLY !== null ? [ONLY] : Array.from({ length: CASES }, (_, i) => i);
  const failures: CaseResult[] = [];
  const statuses = new Map<number, number>();
  const reached = new Set<string>();
  const slow = new Map<string, number>();
  let accepted = 0;
  for (const n of cases) {
    const c = await f.runCase(SEED, n);
    slow.set(c.target, (slow.get(c.target) ?? 0) + c.ms);
    statuses.set(c.status, (statuses.get(c.status) ?? 0) + 1);
    if (c.status > 0) reached.add(c.target);
    if (c.accepted) accepted++;
    if (c.failure) failures.push(c);
  }
  const summary = `${cases.length} cases, ${accepted} accepted; statuses ${JSON.stringify(Object.fromEntries(statuses))}`;
  const slowest = [...slow].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([t, ms]) => `${t} ${Math.round(ms)} ms`);
  console.log(`fuzz seed ${SEED}: ${f.targets.length} targets, ${summary}; slowest targets: ${slowest.join(', ')}`);
  assert.ok(await f.alive(), 'the server no longer answers /healthz and /readyz');
  assert.equal(failures.length, 0, `${failures.length} failing cases (${summary}):\n${failures.slice(0, 20).map(replay).join('\n')}`);
  if (ONLY === null && CASES >= f.targets.length) {
    const missed = f.targets.map((t) => t.name).filter((t) => !reached.has(t));
    assert.deepEqual(missed, [], 'every target was reached');
    // The fuzz must mostly be refused: a run where everything is accepted checks nothing.
    assert.ok(accepted < cases.length / 4, `too many accepted cases: ${summary}`);
  }
});

// A few real git builds of a local repository whose manifest is bent: each build ends failed
// with a reason that names the manifest's problem (or gets past the manifest and fails later
// for want of a runtime), never an internal error.
test('fuzz: git builds of bent manifests fail cleanly with a reason', { timeout: 300_000 }, async () => {
  const s = f.server;
  const app = await makeGitApp({ dir: path.join(s.config.dataDir, '..', `fmd-fuzz-git-${process.pid}`, 'repo') });
  const token = s.adminToken;
  const ids: Array<{ id: number; how: string }> = [];
  for (let i = 0; i < 3; i++) {
    const file = manifestFile(caseRng(SEED, 1_000_000 + i));
    const commit = await commitFiles(app.dir, { [file.name]: typeof file.text === 'string' ? file.text : file.text.toString('latin1') }, `bent manifest ${i}`);
    const res = await fetch(`${s.url}/api/v1/build/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ repo: 'fuzz', url: app.url, ref: commit, manifest: file.name }),
    });
    const body = (await res.json()) as { id?: number };
    assert.equal(res.status, 200, JSON.stringify(body));
    ids.push({ id: body.id!, how: file.how });
  }
  for (const { id, how } of ids) {
    const b = await pollFor(async () => {
      const r = await s.gql(`query($n: Int!) { build(number: $n) { state stateReason } }`, { n: id });
      const build = r.body.data?.build;
      return build && ['FAILED', 'CANCELLED', 'COMMITTED', 'PUBLISHED'].includes(build.state) ? build : null;
    }, 240_000, 200);
    assert.equal(b.state, 'FAILED', `build ${id} (${how}): ${JSON.stringify(b)}`);
    assert.ok(b.stateReason && !/internal error/i.test(b.stateReason), `build ${id} (${how}): ${b.stateReason}`);
  }
  assert.ok(await f.alive());
});

// The harness's data check is worth what its snapshot sees: a write must show up in it.
test('fuzz: the data check sees a write (a new repo: its rows and its files)', async () => {
  const changed = await f.changesBy(() => f.server.gql(`mutation { createRepo(input: { name: "fuzz-seen" }) { __typename } }`));
  assert.ok(changed.some((c) => c.startsWith('table repos:')), changed.join('; '));
  assert.ok(changed.some((c) => c.startsWith('file new: ') && c.includes('fuzz-seen')), changed.join('; '));
});

// --- bugs the fuzz found, one focused case each --------------------------------------------------

test('regression: a persisted query whose sha does not match is a 400 BAD_REQUEST, not an INTERNAL_SERVER_ERROR', async () => {
  const res = await fetch(`${f.server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } } }),
  });
  const body = (await res.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
  assert.equal(res.status, 400);
  assert.equal(body.errors[0]!.extensions.code, 'BAD_REQUEST', JSON.stringify(body));
  assert.match(body.errors[0]!.message, /sha does not match/);
});

test('regression: a manifest with tags the YAML reader does not know is read without a process warning', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fmd-fuzz-manifest-'));
  const file = path.join(dir, 'org.test.App.yml');
  await writeFile(file, 'id: !!js/function org.test.App\nruntime: !custom org.test.Platform\nsdk: org.test.Sdk\nmodules: []\n');
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const info = await readManifest(file);
    assert.equal(info.appId, 'org.test.App');
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('warning', onWarning);
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(warnings, []);
});

async function rest(method: string, p: string, body: string, token: string | null = f.server.adminToken): Promise<{ status: number; body: any }> {
  const res = await fetch(`${f.server.url}/api/v1${p}`, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body || undefined });
  return { status: res.status, body: await res.json() };
}

test('regression: a JSON body with a lone surrogate ("\\ud83d") is a 400 before any handler, over REST and GraphQL; nothing is written', async () => {
  const s = f.server;
  const changed = await f.changesBy(async () => {
    const r = await rest('POST', '/token_subset', '{"sub":"","scope":["build"],"duration":60,"prefixes":["org.test\\ud83d"],"name":"x"}');
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, /not valid JSON: .*lone UTF-16 surrogate/);
    const g = await fetch(`${s.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminToken}` },
      body: '{"query":"mutation($i: CreateTokenInput!) { createToken(input: $i) { __typename } }","variables":{"i":{"name":"a\\udc00","scopes":["build"],"durationSeconds":60}}}',
    });
    assert.equal(g.status, 400);
    // Keys too.
    const k = await rest('POST', '/build', '{"repo":"fuzz","\\ud800":1}');
    assert.equal(k.status, 400, JSON.stringify(k.body));
  });
  assert.deepEqual(changed, []);
  // A whole pair is a character like any other.
  const ok = await rest('POST', '/tokens/get_list', '{"token_ids":["\\ud83d\\ude42"]}');
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
});

test('regression: token_subset with a sub longer than its column is refused (400 naming sub), not a 500', async () => {
  const changed = await f.changesBy(async () => {
    const r = await rest('POST', '/token_subset', JSON.stringify({ sub: `build/1${'x'.repeat(300)}`, scope: ['build'], duration: 60, name: 'long sub' }));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.message, /sub is at most 255 characters/);
  });
  assert.deepEqual(changed, []);
});

test('regression: commit with endoflife_rebase or endoflife longer than the builds table holds, or a token_type beyond 32 bits, is refused (400), and the build stays as it was', async () => {
  const s = f.server;
  const created = await rest('POST', '/build', JSON.stringify({ repo: 'fuzz' }));
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const id = created.body.id as number;
  const changed = await f.changesBy(async () => {
    const long = await rest('POST', `/build/${id}/commit`, JSON.stringify({ endoflife_rebase: `org.test.${'x'.repeat(300)}` }));
    assert.equal(long.status, 400, JSON.stringify(long.body));
    assert.match(long.body.message, /endoflife_rebase is at most 255 characters/);
    const eol = await rest('POST', `/build/${id}/commit`, JSON.stringify({ endoflife: 'x'.repeat(70_000) }));
    assert.equal(eol.status, 400, JSON.stringify(eol.body));
    assert.match(eol.body.message, /endoflife is at most 4096 characters/);
    // a token_type beyond 32 bits (FUZZ_SEED=256712742 FUZZ_CASE=480 answered 500)
    const tt = await rest('POST', `/build/${id}/commit`, JSON.stringify({ token_type: 31_536_000_000 }));
    assert.equal(tt.status, 400, JSON.stringify(tt.body));
    assert.match(tt.body.message, /token_type must be a 32-bit integer/);
    const g = await s.gql(`mutation($i: CommitBuildInput!) { commitBuild(input: $i) { __typename ... on InvalidInputError { message } } }`, { i: { build: id, endOfLifeRebase: 'y'.repeat(256) } });
    assert.equal(g.body.data?.commitBuild?.__typename, 'InvalidInputError', JSON.stringify(g.body));
  });
  assert.deepEqual(changed, []);
  const after = await rest('GET', `/build/${id}`, '');
  assert.equal(after.body.state, 'uploading', JSON.stringify(after.body));
});

test('regression: generateKey with a user id part longer than 255 characters is an InvalidInputError naming it, not a key too large for its column', async () => {
  const s = f.server;
  const changed = await f.changesBy(async () => {
    for (const [field, value] of [
      ['comment', 'c'.repeat(70_000)],
      ['email', `${'e'.repeat(300)}@example.org`],
      ['userName', 'u'.repeat(256)],
      ['comment', 'two\nlines'],
    ] as const) {
      const r = await s.gql(`mutation($i: GenerateKeyInput!) { generateKey(input: $i) { __typename ... on InvalidInputError { field message } } }`, { i: { name: `long ${field}`, [field]: value } });
      assert.equal(r.body.data?.generateKey?.__typename, 'InvalidInputError', JSON.stringify(r.body).slice(0, 500));
      assert.equal(r.body.data.generateKey.field, field);
    }
  });
  assert.deepEqual(changed, []);
});

test('regression: a token signed elsewhere with a name longer than its column and half a surrogate pair in its prefixes still gets its row (the usage flush failed)', async () => {
  const s = f.server;
  const jti = `fuzz-outside-${process.pid}`;
  const token = await signClaims(
    { sub: '', scope: ['download'], prefixes: ['org.test\ud800'], apps: [], repos: [''], exp: Math.floor(Date.now() / 1000) + 600, name: 'n'.repeat(300), jti },
    secretKey(s.secret),
  );
  const r = await s.gql('{ viewer { tokenId } }', {}, token);
  assert.equal(r.body.data?.viewer?.tokenId, jti, JSON.stringify(r.body));
  const row = await pollFor(() => s.services.prisma.apiToken.findUnique({ where: { jti } }), 10_000, 50);
  assert.equal(row.name, 'n'.repeat(255));
  assert.deepEqual(row.prefixes, ['org.test\ufffd']);
});
