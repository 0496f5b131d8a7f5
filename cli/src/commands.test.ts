// Runs the real fmdc (bin/run.js) as a child process against a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../test/server.ts';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));

type Run = { code: number; stdout: string; stderr: string };

function fmdc(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // NODE_TEST_CONTEXT would make the child talk to the test runner instead of printing.
    const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NODE_TEST_CONTEXT: undefined, FMDC_URL: undefined, FMDC_TOKEN: undefined, ...env };
    for (const k of Object.keys(childEnv)) if (childEnv[k] === undefined) delete childEnv[k];
    execFile(process.execPath, [bin, ...args], { env: childEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe('fmdc against a real server', () => {
  let server: TestServer;
  let env: Record<string, string>;
  before(async () => {
    server = await startTestServer();
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
  });

  test('--help lists the commands', async () => {
    const r = await fmdc(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /whoami/);
    assert.match(r.stdout, /token/);
  });

  test('whoami prints the viewer, short and as JSON', async () => {
    const r = await fmdc(['whoami'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(admin\)/);
    assert.match(r.stdout, /scopes: .*admin/);
    const viewer = json<{ scopes: string[]; user: { isAdmin: boolean } }>(await fmdc(['whoami', '--json'], env));
    assert.ok(viewer.scopes.includes('admin'));
    assert.equal(viewer.user.isAdmin, true);
  });

  test('--url and --token flags work without the environment', async () => {
    const r = await fmdc(['whoami', '--url', server.url, '--token', server.adminToken]);
    assert.equal(r.code, 0, r.stderr);
  });

  test('token create, list and revoke', async () => {
    const created = await fmdc(['token', 'create', 'cli-test', '--scope', 'build,upload', '--prefix', 'org.example', '--duration', '2h'], env);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.equal(token.split('.').length, 3, 'stdout holds just the JWT');
    // flat-manager names a subset token after its parent: "<parent name>/cli-test".
    assert.match(created.stderr, /created \S+ "(.*\/)?cli-test" \(build, upload\)/);

    // The new token works and is limited to what was asked.
    const own = json<{ tokenId: string; scopes: string[]; prefixes: string[] }>(await fmdc(['whoami', '--json'], { ...env, FMDC_TOKEN: token }));
    assert.deepEqual(own.scopes, ['build', 'upload']);
    assert.deepEqual(own.prefixes, ['org.example']);

    const list = await fmdc(['token', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${own.tokenId}  (.*/)?cli-test  \\[build,upload\\]  expires `));

    const listed = json<{ totalCount: number; tokens: { tokenId: string }[] }>(await fmdc(['token', 'list', '--json'], env));
    assert.ok(listed.tokens.some((t) => t.tokenId === own.tokenId));

    const revoked = await fmdc(['token', 'revoke', own.tokenId], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked 1 of 1 token/);

    const active = json<{ tokens: { tokenId: string }[] }>(await fmdc(['token', 'list', '--json'], env));
    assert.ok(!active.tokens.some((t) => t.tokenId === own.tokenId));
    const all = await fmdc(['token', 'list', '--all'], env);
    assert.match(all.stdout, new RegExp(`${own.tokenId}  (.*/)?cli-test  .*revoked`));

    // The revoked token no longer works.
    const refused = await fmdc(['whoami'], { ...env, FMDC_TOKEN: token });
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /rejected the token/);
  });

  test('token create --json returns the token and its row', async () => {
    const out = json<{ token: string; apiToken: { name: string; scopes: string[] } }>(await fmdc(['token', 'create', 'json-test', '--scope', 'download', '--json'], env));
    assert.match(out.apiToken.name, /(^|\/)json-test$/);
    assert.deepEqual(out.apiToken.scopes, ['download']);
    assert.ok(out.token.length > 20);
  });

  test('a bad token fails with exit 4 and says what to do', async () => {
    const r = await fmdc(['whoami'], { ...env, FMDC_TOKEN: 'not-a-jwt' });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /the server rejected the token/);
    assert.match(r.stderr, /--token or --token-file, or set FMDC_TOKEN/);
    assert.equal(r.stdout, '');

    const j = await fmdc(['whoami', '--json'], { ...env, FMDC_TOKEN: 'not-a-jwt' });
    assert.equal(j.code, 4);
    const body = JSON.parse(j.stdout) as { error: { message: string; code: string } };
    assert.match(body.error.message, /rejected the token/);
    assert.equal(body.error.code, 'invalid-token');
  });

  test('no token at all fails with exit 4 and a hint', async () => {
    const r = await fmdc(['token', 'list'], { FMDC_URL: server.url });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /no API token given/);
    assert.match(r.stderr, /FMDC_TOKEN/);
  });

  test('an unreachable server fails with exit 3 and names the URL', async () => {
    const r = await fmdc(['whoami'], { FMDC_URL: 'http://127.0.0.1:1', FMDC_TOKEN: server.adminToken });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /cannot reach http:\/\/127\.0\.0\.1:1\/graphql/);
    assert.match(r.stderr, /--url, FMDC_URL or the profile/);
  });

  test('a typed error result fails with its message and error type', async () => {
    const limited = json<{ token: string }>(await fmdc(['token', 'create', 'limited', '--scope', 'build', '--json'], env));
    const r = await fmdc(['token', 'create', 'escalate', '--scope', 'admin', '--duration', '1h'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /Code: token-insufficient/);
    assert.match(r.stderr, /at most its own scopes/);
    assert.equal(r.stdout, '');

    const j = await fmdc(['token', 'create', 'escalate', '--scope', 'admin', '--duration', '1h', '--json'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(j.code, 4);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'token-insufficient');
  });

  test('a token without the needed scope is refused with exit 4 and a hint', async () => {
    const limited = json<{ token: string }>(await fmdc(['token', 'create', 'no-list', '--scope', 'download', '--json'], env));
    const r = await fmdc(['token', 'list'], { ...env, FMDC_TOKEN: limited.token });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /forbidden/);
    assert.match(r.stderr, /fmdc whoami/);
  });

  test('a bad duration is a usage error', async () => {
    const r = await fmdc(['token', 'create', 'x', '--scope', 'build', '--duration', 'forever'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a duration/);
  });
});
