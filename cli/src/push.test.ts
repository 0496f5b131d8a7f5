// `fmdc push` as a CI script runs it: the real fmdc (bin/run.js) as a child process against a
// real server, pushing the offline-built org.test.Hello, then commit, publish and repo update.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { FlatManagerRestClient } from '@fmd/sdk/push';
import { startTestServer, type TestServer } from '../test/server.ts';

type Fixtures = { testBuilds(): Promise<{ appRepo: string; app: { ref: string; commit: string } }> };
const fixtures = (await import(new URL('../../server/test/kit/repo-fixtures.ts', import.meta.url).href)) as Fixtures;

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
type Run = { code: number; stdout: string; stderr: string };

function fmdc(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NODE_TEST_CONTEXT: undefined, FMDC_URL: undefined, FMDC_TOKEN: undefined, ...env };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    execFile(process.execPath, [bin, ...args], { env: childEnv, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let s: TestServer;
let rest: FlatManagerRestClient;
let appRepo: string;
let app: { ref: string; commit: string };

async function gql(query: string, variables?: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminToken}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as any;
  assert.ok(!body.errors, JSON.stringify(body.errors));
  return body.data;
}

before(async () => {
  s = await startTestServer();
  rest = new FlatManagerRestClient({ token: s.adminToken });
  const key = await gql(`mutation { generateKey(input: { name: "cli push key", email: "push@example.org" }) { ... on KeyPayload { key { id } } } }`);
  const created = await gql(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, {
    input: { name: 'clipush', collectionId: 'org.fmd.CliPush', keyId: key.generateKey.key.id },
  });
  assert.equal(created.createRepo.__typename, 'RepoPayload', JSON.stringify(created));
  ({ appRepo, app } = await fixtures.testBuilds());
});
after(async () => {
  rest?.close();
  await s?.stop();
});

const newBuild = async () => (await rest.createBuild(`${s.url}/api/v1`, { repo: 'clipush' })).url;

test('fmdc push --extra-id (one value, before the arguments, as flat-manager-client takes it) --commit --publish --wait --wait-update --json: published, with a JSON summary', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  const r = await fmdc(['push', '--extra-id', 'org.test.Hello.Extra', buildUrl, appRepo, app.ref, '--commit', '--publish', '--wait', '--wait-update', '--build-log-url', 'https://ci.example.org/1', '--json'], { FMDC_TOKEN: s.adminToken });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.push.refs, { [app.ref]: app.commit });
  assert.ok(out.push.objects.uploaded > 0);
  assert.equal(out.commit_job.status, 2);
  assert.equal(out.publish_job.status, 2);
  assert.equal(out.update_job.status, 2);
  assert.equal(out.build.published_state, 2, JSON.stringify(out.build));
  assert.deepEqual(out.build.extra_ids, ['org.test.Hello.Extra']);
  // Progress and the jobs' logs went to stderr, as flat-manager-client prints them.
  assert.match(r.stderr, /Uploading refs to /);
  assert.match(r.stderr, /uploading: 100% /);
  assert.match(r.stderr, /\\ Job completed successfully/);
  assert.match(r.stderr, /\| .*org\.test\.Hello/);
});

test('fmdc push twice into one build: the second sends nothing; human output', { timeout: 300_000 }, async () => {
  const buildUrl = await newBuild();
  const first = await fmdc(['push', buildUrl, appRepo, '--token', s.adminToken]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`${buildUrl}: build \\d+ is uploading`));
  const second = await fmdc(['push', buildUrl, appRepo, '--token', s.adminToken]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /Pushed 1 ref\(s\): 0 of \d+ objects sent \(0 B\)/);
});

test('fmdc push: bad inputs exit non-zero with a clear message', { timeout: 120_000 }, async () => {
  const buildUrl = await newBuild();
  const env = { FMDC_TOKEN: s.adminToken };
  const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
    [['push', buildUrl, path.join(appRepo, 'nope')], env, 2, /no OSTree repo at /],
    [['push', buildUrl, appRepo, 'app/org.test.Nope/x86_64/stable'], env, 2, /ref app\/org\.test\.Nope\/x86_64\/stable not found/],
    [['push', `${s.url}/api/v1/build`, appRepo], env, 2, /not a build URL/],
    [['push', buildUrl, appRepo], { FMDC_TOKEN: 'bad' }, 4, /HTTP 401/],
    [['push', buildUrl, appRepo], {}, 4, /no API token given/],
    [['push', 'http://127.0.0.1:9/api/v1/build/1', appRepo], env, 3, /cannot reach http:\/\/127\.0\.0\.1:9/],
  ];
  for (const [args, e, code, message] of cases) {
    const r = await fmdc(args, e);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('fmdc push on a terminal draws a progress bar (objects, bytes, rate, ETA) in place', { timeout: 120_000 }, async () => {
  const buildUrl = await newBuild();
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, bin, 'push', buildUrl, appRepo, '--token', s.adminToken].map(quote).join(' ');
  // script(1) gives fmdc a pseudo-terminal, as an interactive shell would.
  const out = await new Promise<Run>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_TEST_CONTEXT: undefined };
    delete env.NODE_TEST_CONTEXT;
    execFile('script', ['-qec', command, '/dev/null'], { env, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
  assert.equal(out.code, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /\r\x1b\[K\[#+-*\] +\d+% \d+\/\d+ objects, .+\/.+, .+\/s, ETA \d+:\d\d/);
  assert.doesNotMatch(out.stdout, /uploading: \d+%/, 'no plain progress lines on a terminal');
});
