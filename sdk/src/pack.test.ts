// The packed SDK in another project: `npm pack` output installed into a directory outside the
// monorepo, used from a plain .mjs Node script against a real server (a query, a mutation's typed
// error result, a subscription event, a push with the `@fmd/sdk/push` subpath) and type-checked
// from a .ts consumer against its .d.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../test/server.ts';

const exec = promisify(execFile);
type Fixtures = { testBuilds(): Promise<{ appRepo: string; app: { ref: string; commit: string } }> };
// Loaded by URL, as test/server.ts loads the server kit: the app flatpak-builder built offline.
const fixtures = (await import(new URL('../../server/test/kit/repo-fixtures.ts', import.meta.url).href)) as Fixtures;
const sdkDir = fileURLToPath(new URL('..', import.meta.url));

let server: TestServer;
let work: string;
let project: string;
before(async () => {
  server = await startTestServer();
  work = mkdtempSync(path.join(os.tmpdir(), 'fmd-sdk-pack-'));
  project = path.join(work, 'consumer');
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const consumerScript = `
import { createFmdClient, isErrorResult, isResult, FmdRequestError, BuildState } from '@fmd/sdk';

const client = createFmdClient({ url: process.env.FMD_URL, token: process.env.FMD_TOKEN });
const out = {};
out.scopes = (await client.viewer()).viewer.scopes;

const created = (await client.createRepo({ input: { name: 'packed' } })).createRepo;
out.created = created.__typename;
const again = (await client.createRepo({ input: { name: 'packed' } })).createRepo;
out.again = { typename: again.__typename, isError: isErrorResult(again), message: again.message };

const build = (await client.createBuild({ input: { repo: 'packed' } })).createBuild;
if (!isResult(build, 'BuildPayload')) throw new Error(JSON.stringify(build));
for await (const event of client.buildUpdated({ number: build.build.number })) {
  out.event = { number: event.buildUpdated.number, state: event.buildUpdated.state, uploading: event.buildUpdated.state === BuildState.Uploading };
  break;
}
await client.close();

// The Node-only subpaths: a push of a local OSTree repo into the build.
const { pushRepo } = await import('@fmd/sdk/push');
const pushed = await pushRepo({ buildUrl: \`\${process.env.FMD_URL}/api/v1/build/\${build.build.number}\`, token: process.env.FMD_TOKEN, repo: process.env.PUSH_REPO, refs: [process.env.PUSH_REF] });
out.pushed = pushed.refs;
out.gvariant = typeof (await import('@fmd/sdk/ostree')).parse;

try {
  await createFmdClient({ url: process.env.FMD_URL, token: 'not-a-jwt' }).viewer();
} catch (e) {
  out.transportError = { isFmdRequestError: e instanceof FmdRequestError, code: e.code };
}
console.log(JSON.stringify(out));
`;

// Types come from the installed .d.ts: a wrong variable must be an error (not `any`).
const consumerTs = `
import { createFmdClient, isResult, type BuildFieldsFragment, type FmdClient } from '@fmd/sdk';

const client: FmdClient = createFmdClient({ url: 'http://localhost:8080', token: 't' });
export async function latest(repo: string): Promise<BuildFieldsFragment | undefined> {
  const { builds } = await client.builds({ repo, first: 1 });
  return builds.edges[0]?.node;
}
export async function purge(build: number): Promise<string> {
  const r = (await client.purgeBuild({ input: { build } })).purgeBuild;
  return isResult(r, 'BuildPayload') ? r.build.state : r.message;
}
// @ts-expect-error the repo name is a string
void client.builds({ repo: 42 });
`;

test('the packed tarball installs outside the monorepo and works from plain Node', { timeout: 300_000 }, async () => {
  const { stdout: packOut } = await exec(process.execPath, [path.join(sdkDir, 'scripts/pack.ts'), '--out', work], { cwd: sdkDir });
  const tarball = packOut.trim().split('\n').at(-1)!;
  assert.match(tarball, /fmd-sdk-.*\.tgz$/);

  await exec('mkdir', ['-p', project]);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // The SDK's dependencies come packed from the monorepo's own node_modules and npm runs
  // --offline: the test needs no registry, and a dependency missing from the manifest fails it.
  const deps = Object.keys((JSON.parse(readFileSync(path.join(sdkDir, 'package.json'), 'utf8')) as { dependencies: object }).dependencies);
  const depTarballs: string[] = [];
  for (const dep of deps) {
    const dir = [path.join(sdkDir, 'node_modules', dep), path.join(sdkDir, '..', 'node_modules', dep)].find((d) => existsSync(d));
    assert.ok(dir, `${dep} is installed in the monorepo`);
    const { stdout } = await exec('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work, dir], { cwd: work });
    depTarballs.push(path.join(work, stdout.trim().split('\n').at(-1)!));
  }
  await exec('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...depTarballs], { cwd: project });

  const { appRepo, app } = await fixtures.testBuilds();
  writeFileSync(path.join(project, 'consumer.mjs'), consumerScript);
  const env = { ...process.env, FMD_URL: server.url, FMD_TOKEN: server.adminToken, PUSH_REPO: appRepo, PUSH_REF: app.ref };
  const { stdout } = await exec(process.execPath, ['consumer.mjs'], { cwd: project, env });
  const out = JSON.parse(stdout);
  assert.ok(out.scopes.includes('admin'));
  assert.equal(out.created, 'RepoPayload');
  assert.equal(out.again.typename, 'InvalidInputError');
  assert.equal(out.again.isError, true);
  assert.ok(out.again.message.length > 0);
  assert.equal(out.event.state, 'UPLOADING');
  assert.equal(out.event.uploading, true);
  assert.deepEqual(out.pushed, { [app.ref]: app.commit });
  assert.equal(out.gvariant, 'function');
  assert.deepEqual(out.transportError, { isFmdRequestError: true, code: 'UNAUTHENTICATED' });

  // Resolved from the consumer's node_modules, not from the monorepo's sources.
  const resolved = createRequire(path.join(project, 'consumer.mjs')).resolve('@fmd/sdk');
  assert.ok(resolved.startsWith(project) && resolved.endsWith('.js'), resolved);
});

test('a TypeScript consumer type-checks against the installed .d.ts', { timeout: 120_000 }, async () => {
  writeFileSync(path.join(project, 'consumer.ts'), consumerTs);
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, lib: ['ES2022', 'DOM'], types: [] }, files: ['consumer.ts'] }),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = await exec(process.execPath, [tsc, '-p', project]).catch((e: { stdout: string }) => e);
  assert.equal(r.stdout.trim(), '', 'tsc reports nothing');
});
