// fmdc as a drop-in for flat-manager-client, through the real fmdc against a real server: its
// verbs over the REST API, its global options before the verb, its output JSON, its exit codes
// for bad input; and the flat-manager CI scenario end to end with fmdc only (flatpak-builder,
// `fmdc create`, `fmdc push --commit --publish --wait`, then `flatpak install` from fmd and run).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../test/server.ts';
import { configDir, fmdc, type Run } from '../test/fmdc.ts';
import { lacksCommand, moveGlobalOptions } from './argv.ts';

// The server's test kit, loaded by URL (as ../test/server.ts does) so that type-checking the CLI
// does not pull in the server's sources: the offline flatpak runtime and app built with
// flatpak-builder, flatpak clients in their own homes, and a client that uploads exactly as
// flat-manager-client does (for the verbs around a push; the push itself is `fmdc push`).
type Builds = { work: string; runtimeRepo: string; appRepo: string; app: { ref: string; commit: string; message: string }; runtimeRefs: string[] };
type Kit = {
  testBuilds(): Promise<Builds>;
  installAndRun(dir: string, from: { url: string }): Promise<string>;
  tempDir(prefix: string): Promise<string>;
  FlatManagerClient: new (baseUrl: string, token: string) => { createBuild(repo: string): Promise<{ id: number; url: string }>; push(buildUrl: string, repo: string, refs: Record<string, string>): Promise<unknown> };
  revParse(repo: string, ref: string): Promise<string | null>;
};
const kitFile = (f: string) => import(new URL(`../../server/test/kit/${f}`, import.meta.url).href);
const kit: Kit = {
  ...((await kitFile('repo-fixtures.ts')) as Pick<Kit, 'testBuilds' | 'installAndRun'>),
  ...((await kitFile('flatpak-fixtures.ts')) as Pick<Kit, 'tempDir'>),
  ...((await kitFile('flat-manager-client.ts')) as Pick<Kit, 'FlatManagerClient'>),
  revParse: ((await import(new URL('../../server/src/ostree/ostree.ts', import.meta.url).href)) as { revParse: Kit['revParse'] }).revParse,
};

const hasPush = existsSync(fileURLToPath(new URL('./commands/push.ts', import.meta.url)));

type Build = { id: number; repo_state: number; published_state: number; app_id: string | null; build_log_url: string | null; public_download: boolean; location?: string };
type Job = { id: number; status: number; results: Record<string, unknown>; location: string };

describe('fmdc as flat-manager-client', () => {
  let server: TestServer;
  let config: string;
  let work: string;
  let builds: Builds;
  /** the admin token, as CI passes it to flat-manager-client */
  let env: Record<string, string>;

  const ok = (r: Run) => {
    assert.equal(r.code, 0, `exit 0 expected; stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const run = (args: string[], e: Record<string, string | undefined> = env, timeoutMs = 120_000) => fmdc(args, { env: e, configDir: config, timeoutMs });
  const getBuild = async (url: string): Promise<Build> => {
    const r = await fetch(url, { headers: { authorization: `Bearer ${server.adminToken}` } });
    assert.equal(r.status, 200);
    return (await r.json()) as Build;
  };
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const r = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` }, body: JSON.stringify({ query, variables }) });
    const body = (await r.json()) as { data?: Record<string, any>; errors?: unknown };
    assert.ok(body.data && !body.errors, JSON.stringify(body));
    return body.data;
  };
  /** Refs of a local repo, as `fmdc push` without refs picks them. */
  const refsOf = async (repo: string, refs: string[]) => Object.fromEntries(await Promise.all(refs.map(async (r) => [r, (await kit.revParse(repo, r))!] as const)));

  before(async () => {
    server = await startTestServer();
    config = await configDir();
    work = await kit.tempDir('fmdc-compat-');
    env = { REPO_TOKEN: server.adminToken };
    const key = (await gql(`mutation($n: String!) { generateKey(input: { name: $n, email: "ci@example.org" }) { ... on KeyPayload { key { id } } } }`, { n: 'compat key' })).generateKey.key;
    for (const name of ['main', 'beta']) {
      const created = await gql(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, {
        input: { name, collectionId: `org.fmd.${name}`, keyId: key.id, title: `fmdc ${name}` },
      });
      assert.equal(created.createRepo.__typename, 'RepoPayload', JSON.stringify(created));
    }
    builds = await kit.testBuilds();
  });
  after(async () => {
    await server?.stop();
    for (const d of [config, work]) if (d) await rm(d, { recursive: true, force: true });
  });

  test('create prints the build URL; app id, build log URL and public download reach the build', async () => {
    const r = ok(await run(['create', server.url, 'main', 'org.test.Hello', '--build-log-url', 'https://ci.example.org/42', '--public_download']));
    const url = r.stdout.trim();
    assert.match(url, new RegExp(`^${server.url}/api/v1/build/\\d+$`));
    const build = await getBuild(url);
    assert.deepEqual({ app_id: build.app_id, build_log_url: build.build_log_url, public_download: build.public_download, repo_state: build.repo_state }, { app_id: 'org.test.Hello', build_log_url: 'https://ci.example.org/42', public_download: true, repo_state: 0 });
    assert.equal((await getBuild(ok(await run(['create', server.url, 'main', '--no_public_download'])).stdout.trim())).public_download, false);
  });

  test('global options before the verb, as flat-manager-client takes them: --token, --token-file, --print-output, --output, --debug, -v', async () => {
    const none = { REPO_TOKEN: undefined };
    const withToken = ok(await run(['--token', server.adminToken, 'create', server.url, 'main'], none));
    assert.match(withToken.stdout.trim(), /\/api\/v1\/build\/\d+$/);

    const tokenFile = path.join(work, 'token');
    await writeFile(tokenFile, `${server.adminToken}\n`);
    // --print-output: no bare URL, the output JSON instead, as flat-manager-client prints it.
    const printed = ok(await run(['--token-file', tokenFile, '--print-output', 'create', server.url, 'main', 'org.test.Hello'], none));
    const out = JSON.parse(printed.stdout) as { command: string; result: Build };
    assert.equal(out.command, 'create');
    assert.match(String(out.result.location), /\/api\/v1\/build\/\d+$/);
    assert.equal(out.result.app_id, 'org.test.Hello');

    const file = path.join(work, 'out.json');
    const written = ok(await run(['--output', file, 'create', server.url, 'beta']));
    const saved = JSON.parse(await readFile(file, 'utf8')) as { command: string; result: Build };
    assert.equal(saved.result.location, written.stdout.trim());
    assert.equal(saved.result.repo_state, 0);

    // --debug logs every request with headers and bodies on stderr, never the token; -v one line each.
    const debug = ok(await run(['--debug', 'create', server.url, 'main']));
    assert.match(debug.stderr, /> POST http:\/\/\S+\/api\/v1\/build .*"repo":"main"/);
    assert.match(debug.stderr, /< 200 POST http:\/\/\S+\/api\/v1\/build \(\d+ ms\)/);
    assert.match(debug.stderr, /Bearer <redacted>/);
    assert.ok(!debug.stderr.includes(server.adminToken), 'the token never appears in the debug log');
    assert.match(debug.stdout.trim(), /\/api\/v1\/build\/\d+$/);
    const verbose = ok(await run(['-v', 'create', server.url, 'main']));
    assert.match(verbose.stderr, /^fmdc: > POST \S+\/api\/v1\/build$/m);
    // fmd's own commands trace their GraphQL requests the same way.
    const graphql = ok(await run(['--debug', 'whoami', '--url', server.url]));
    assert.match(graphql.stderr, /^fmdc: > POST \S+\/graphql .*viewer/m);
    assert.match(graphql.stderr, /^fmdc: < 200 POST \S+\/graphql \(\d+ ms\)/m);
    assert.ok(!graphql.stderr.includes(server.adminToken));

    // Errors go to --output too, in flat-manager-client's shape.
    const errFile = path.join(work, 'err.json');
    const refused = await run(['--output', errFile, 'create', server.url, 'no-such-repo']);
    assert.equal(refused.code, 1, refused.stderr);
    const err = JSON.parse(await readFile(errFile, 'utf8')) as { command: string; error: { type: string; status_code: number; details: { 'error-type': string } } };
    assert.equal(err.command, 'create');
    assert.equal(err.error.type, 'api');
    assert.ok(err.error.status_code >= 400);
    assert.equal(typeof err.error.details['error-type'], 'string');
  });

  test('bad input: a bad URL, an unknown build, a bad token, a bad token file, no server', async () => {
    const notUrl = await run(['create', 'flat.example.org', 'main']);
    assert.equal(notUrl.code, 2, notUrl.stderr);
    assert.match(notUrl.stderr, /not a URL: "flat\.example\.org"/);

    const unknown = await run(['commit', `${server.url}/api/v1/build/999999`]);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /HTTP 404/);

    const badToken = await run(['create', server.url, 'main'], { REPO_TOKEN: 'not-a-jwt' });
    assert.equal(badToken.code, 4, badToken.stderr);

    const badFile = await run(['--token-file', path.join(work, 'missing'), 'create', server.url, 'main']);
    assert.equal(badFile.code, 2, badFile.stderr);
    assert.match(badFile.stderr, /cannot read the token file/);

    const noToken = await run(['create', server.url, 'main'], {});
    assert.equal(noToken.code, 4, noToken.stderr);
    assert.match(noToken.stderr, /no API token given/);

    const dead = await run(['purge', 'http://127.0.0.1:1/api/v1/build/1']);
    assert.equal(dead.code, 3, dead.stderr);
    assert.match(dead.stderr, /cannot reach/);
  });

  test('commit --wait of a build without refs follows the failing job and exits 5 with its log', async () => {
    const url = ok(await run(['create', server.url, 'main'])).stdout.trim();
    const file = path.join(work, 'failed-commit.json');
    const r = await run(['--output', file, 'commit', '--wait', url]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^Committing build /m);
    assert.match(r.stderr, /^\| .*No refs in build/m);
    assert.match(r.stderr, /^\\ Job failed$/m);
    assert.equal(r.stdout, '');
    const out = JSON.parse(await readFile(file, 'utf8')) as { error: { type: string; job: { status: number } } };
    assert.equal(out.error.type, 'job');
    assert.equal(out.error.job.status, 3);
    assert.equal((await getBuild(url)).repo_state, 3);
  });

  test('pushed as flat-manager-client pushes: commit --wait, follow-job, publish --wait-update, then flatpak install and run from fmd', { timeout: 600_000 }, async () => {
    const client = new kit.FlatManagerClient(server.url, server.adminToken);
    // The runtime first, then the app, each a build of its own.
    for (const [repo, refs] of [
      [builds.runtimeRepo, builds.runtimeRefs],
      [builds.appRepo, [builds.app.ref]],
    ] as const) {
      const url = ok(await run(['create', server.url, 'beta'])).stdout.trim();
      await client.push(url, repo, await refsOf(repo, [...refs]));
      const output = path.join(work, 'commit.json');
      const commit = ok(await run(['commit', url, '--output', output]));
      // stdout holds just the job URL; the progress went to stderr.
      assert.equal(commit.stdout, `${url}/commit\n`);
      const job = (JSON.parse(await readFile(output, 'utf8')) as { result: Job }).result;
      assert.equal(job.location, `${url}/commit`);
      assert.equal(typeof job.results, 'object');
      const followed = ok(await run(['follow-job', commit.stdout.trim()]));
      assert.match(followed.stderr, /^\| .*Committing ref/m);
      assert.match(followed.stderr, /^\\ Job completed successfully$/m);
      const published = ok(await run(['publish', '--wait-update', url]));
      assert.match(published.stderr, /^Waiting for publish job$/m);
      assert.match(published.stderr, /^Queued repo update job \d+$/m);
      assert.match(published.stderr, /^Waiting for repo update job$/m);
      assert.equal((await getBuild(url)).published_state, 2);
      // Published again: not an error, as for flat-manager-client.
      assert.match(ok(await run(['publish', url])).stderr, /already published/);
    }
    const out = await kit.installAndRun(path.join(work, 'client-beta'), { url: `${server.url}/repo/beta.flatpakrepo` });
    assert.match(out, new RegExp(builds.app.message));
  });

  test('purge deletes an unpublished build; create-token mints a subset token that works', async () => {
    const url = ok(await run(['create', server.url, 'main'])).stdout.trim();
    const purged = ok(await run(['purge', url]));
    assert.match(purged.stderr, /^Purging build /m);
    assert.equal((await getBuild(url)).repo_state, 5);

    const minted = ok(await run(['create-token', server.url, 'ci-upload', 'build', 'build', 'upload', '--prefix', 'org.test', '--duration', '3600']));
    const token = minted.stdout.trim();
    assert.equal(token.split('.').length, 3);
    const viewer = JSON.parse(ok(await run(['whoami', '--json', '--url', server.url, '--token', token])).stdout) as { scopes: string[]; prefixes: string[]; subject: string; expiresAt: string };
    assert.deepEqual(viewer.scopes, ['build', 'upload']);
    assert.deepEqual(viewer.prefixes, ['org.test']);
    assert.equal(viewer.subject, 'build');
    const life = Date.parse(viewer.expiresAt) - Date.now();
    // Whole seconds on the server: up to a second either way.
    assert.ok(life > 3_000_000 && life <= 3_601_000, `expires in ${life} ms`);
    // The new token creates builds but may not publish (no publish scope).
    const build = ok(await run(['--token', token, 'create', server.url, 'main'], {})).stdout.trim();
    const refused = await run(['--token', token, 'publish', build], {});
    assert.equal(refused.code, 4, refused.stderr);
    // More rights than the parent: refused.
    const limitedEscalates = await run(['--token', token, 'create-token', server.url, 'more', 'build', 'publish'], {});
    assert.equal(limitedEscalates.code, 4, limitedEscalates.stderr);
  });

  test('purge of a build in use is not an error (flat-manager-client lets CI clean-up steps pass)', async (t) => {
    // Only the in-process test server lets the test put a build into the publishing state.
    const services = (server as TestServer & { services?: { prisma: { build: { update(a: unknown): Promise<unknown> } } } }).services;
    if (!services) return t.skip('needs the in-process test server');
    const url = ok(await run(['create', server.url, 'main'])).stdout.trim();
    const id = Number(url.split('/').pop());
    await services.prisma.build.update({ where: { id }, data: { publishedState: 'PUBLISHING' } });
    const r = ok(await run(['purge', url]));
    assert.match(r.stderr, /in use .* not purged/);
    await services.prisma.build.update({ where: { id }, data: { publishedState: 'UNPUBLISHED' } });
    assert.equal((await getBuild(url)).repo_state, 0);
    ok(await run(['purge', url]));
    assert.equal((await getBuild(url)).repo_state, 5);
  });

  test('prune queues a prune job of the repo and follows it with --wait', async () => {
    const queued = ok(await run(['prune', server.url, 'main']));
    assert.match(queued.stdout.trim().split('\n').pop()!, new RegExp(`^${server.url}/api/v1/job/\\d+$`));
    const waited = ok(await run(['prune', server.url, 'main', '--wait', '--json']));
    const job = JSON.parse(waited.stdout) as Job;
    assert.equal(job.status, 2);
    const unknown = await run(['prune', server.url, 'no-such-repo']);
    assert.equal(unknown.code, 1, unknown.stderr);
  });

  test('the flat-manager CI scenario with fmdc only: create, push --commit --publish --wait, then flatpak install and run', { timeout: 600_000, skip: hasPush ? false : 'needs `fmdc push` (cli/src/commands/push.ts from the push branch)' }, async () => {
    // The CI script, with fmdc where flat-manager-client was.
    for (const [i, repo] of [builds.runtimeRepo, builds.appRepo].entries()) {
      const url = ok(await run(['create', server.url, 'main'])).stdout.trim();
      const output = path.join(work, `push-${i}.json`);
      const pushed = ok(await run(['--output', output, 'push', '--commit', '--publish', '--wait', url, repo], env, 300_000));
      assert.match(pushed.stderr, /Job completed successfully/);
      assert.equal((await getBuild(url)).published_state, 2);
      // The publish queued the repo update; CI scripts follow it like this before telling users.
      const { result } = JSON.parse(await readFile(output, 'utf8')) as { result: { update_job?: { location: string } } };
      assert.ok(result.update_job, JSON.stringify(result));
      assert.match(ok(await run(['follow-job', result.update_job.location])).stderr, /Job completed successfully/);
    }
    const out = await kit.installAndRun(path.join(work, 'client-main'), { url: `${server.url}/repo/main.flatpakrepo` });
    assert.match(out, new RegExp(builds.app.message));
  });
});

describe('global options before the verb move behind it (the argv oclif sees)', () => {
  test('leading global options, with values joined or apart, go after the command and its arguments', () => {
    assert.deepEqual(moveGlobalOptions(['--token', 'T', '--print-output', 'push', 'URL', 'repo', 'app/x']), ['push', 'URL', 'repo', 'app/x', '--token', 'T', '--print-output']);
    assert.deepEqual(moveGlobalOptions(['--token-file=f', '-v', '--debug', '--output', 'o.json', 'token', 'list']), ['token', 'list', '--token-file=f', '--verbose', '--debug', '--output', 'o.json']);
    assert.deepEqual(moveGlobalOptions(['--profile', 'ci', 'whoami', '--json']), ['whoami', '--json', '--profile', 'ci']);
  });
  test('only leading options move; a `--` keeps what follows it positional; nothing after them leaves argv alone', () => {
    assert.deepEqual(moveGlobalOptions(['create', '--token', 'T', 'u', 'r']), ['create', '--token', 'T', 'u', 'r']);
    assert.deepEqual(moveGlobalOptions(['--token', 'T', 'token', 'revoke', '--', '--odd-id']), ['token', 'revoke', '--token', 'T', '--', '--odd-id']);
    assert.deepEqual(moveGlobalOptions(['--token', 'T']), ['--token', 'T']);
    assert.deepEqual(moveGlobalOptions(['--token']), ['--token']);
    assert.deepEqual(moveGlobalOptions(['--help']), ['--help']);
    // An option fmdc does not know as global stops the scan: oclif reports it as it is.
    assert.deepEqual(moveGlobalOptions(['--nope', 'create']), ['--nope', 'create']);
  });
  test('global options and no command are told apart from a command line oclif should see', async () => {
    assert.equal(lacksCommand(['--token', 'T', '--debug']), true);
    assert.equal(lacksCommand(['--token=T']), true);
    assert.equal(lacksCommand(['--token']), true);
    assert.equal(lacksCommand([]), false);
    assert.equal(lacksCommand(['--help']), false);
    assert.equal(lacksCommand(['--token', 'T', 'whoami']), false);
    const r = await fmdc(['--token', 'T', '--print-output']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no command given after the global options/);
  });
});
