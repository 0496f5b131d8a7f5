// `fmdc login`/`logout` and where every command finds its server and token, through the real
// fmdc against a real server: profiles in the config dir, FMDC_URL/FMDC_TOKEN, REPO_TOKEN,
// --token-file, and what fmdc says when one of them is wrong.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { startTestServer, type TestServer } from '../test/server.ts';
import { configDir, fmdc, type Run } from '../test/fmdc.ts';

type Viewer = { name: string | null; tokenId: string | null; scopes: string[] };

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

describe('fmdc login, profiles and token precedence', () => {
  let server: TestServer;
  let dirs: string[] = [];
  /** Tokens told apart by their names. */
  const tokens: Record<'a' | 'b' | 'c' | 'd', string> = { a: '', b: '', c: '', d: '' };
  const dead = 'http://127.0.0.1:1';

  const fresh = async () => {
    const d = await configDir();
    dirs.push(d);
    return d;
  };
  const whoami = async (args: string[], o: Parameters<typeof fmdc>[1]) => json<Viewer>(await fmdc(['whoami', '--json', ...args], o));

  before(async () => {
    server = await startTestServer();
    for (const name of Object.keys(tokens) as (keyof typeof tokens)[]) {
      const r = json<{ token: string }>(await fmdc(['token', 'create', `who-${name}`, '--scope', 'build,jobs', '--duration', '1h', '--json'], { env: { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken } }));
      tokens[name] = r.token;
    }
  });
  after(async () => {
    await server?.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    dirs = [];
  });

  test('login checks the token, stores URL and token readable by the user only, and later commands need neither', async () => {
    const config = await fresh();
    const r = await fmdc(['login', '--url', `${server.url}/`, '--token', server.adminToken], { configDir: config });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /logged in to http:\/\/\S+ as \S+ \(admin\)/);
    assert.match(r.stdout, /stored as profile "default"/);
    const file = path.join(config, 'profiles.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const stored = JSON.parse(await readFile(file, 'utf8')) as { profiles: Record<string, { url: string; token: string }> };
    assert.deepEqual(stored.profiles.default, { url: server.url, token: server.adminToken });

    const viewer = await whoami([], { configDir: config });
    assert.ok(viewer.scopes.includes('admin'));
    // flat-manager-client verbs find the token in the profile too, for the profile's server.
    const created = await fmdc(['create', server.url, 'no-such-repo'], { configDir: config });
    assert.notEqual(created.code, 4, created.stderr);
  });

  test('login reads the token from standard input, into a named profile; --profile and FMDC_PROFILE pick it', async () => {
    const config = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--token', tokens.a], { configDir: config })).code, 0);
    const r = await fmdc(['login', '--url', server.url, '--profile', 'ci'], { configDir: config, input: `${tokens.b}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stored as profile "ci"/);
    assert.match((await whoami([], { configDir: config })).name ?? '', /who-a$/);
    assert.match((await whoami(['--profile', 'ci'], { configDir: config })).name ?? '', /who-b$/);
    assert.match((await whoami([], { configDir: config, env: { FMDC_PROFILE: 'ci' } })).name ?? '', /who-b$/);
    assert.match((await whoami(['--profile', 'default'], { configDir: config, env: { FMDC_PROFILE: 'ci' } })).name ?? '', /who-a$/);
    // Global options go before the command too, as with flat-manager-client.
    assert.match(json<Viewer>(await fmdc(['--profile', 'ci', 'whoami', '--json'], { configDir: config })).name ?? '', /who-b$/);
  });

  test('on a terminal, login asks for the token without echoing it', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) for a pseudo-terminal' }, async () => {
    const config = await fresh();
    const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));
    // script(1) runs fmdc on a pseudo-terminal; the token is typed once the prompt shows.
    const child = spawn('script', ['-qec', `'${process.execPath}' '${bin}' login --url ${server.url}`, '/dev/null'], {
      env: { ...process.env, FMDC_CONFIG_DIR: config, NO_COLOR: '1', OCLIF_COLUMNS: '1000', NODE_TEST_CONTEXT: undefined },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let seen = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      seen += text;
      if (!typed && seen.includes('API token: ')) {
        typed = true;
        child.stdin.write(`${tokens.c}\r`);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, seen);
    assert.match(seen, /logged in to http:\/\/\S+ as .*"[^"]*who-c"/);
    assert.ok(!seen.includes(tokens.c), 'the token typed is not echoed');
    assert.match((await whoami([], { configDir: config })).name ?? '', /who-c$/);
  });

  test('token precedence: --token, --token-file, REPO_TOKEN, FMDC_TOKEN, the profile', async () => {
    const config = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--token', server.adminToken], { configDir: config })).code, 0);
    const tokenFile = path.join(config, 'token.txt');
    await writeFile(tokenFile, `  ${tokens.b}  \nsecond line is ignored\n`);
    const env = { FMDC_TOKEN: tokens.d, REPO_TOKEN: tokens.c };
    const name = async (args: string[], e: Record<string, string>) => (await whoami(args, { configDir: config, env: e })).name ?? '';
    assert.match(await name(['--token', tokens.a, '--token-file', tokenFile], env), /who-a$/);
    assert.match(await name(['--token-file', tokenFile], env), /who-b$/);
    assert.match(await name([], env), /who-c$/);
    assert.match(await name([], { FMDC_TOKEN: tokens.d }), /who-d$/);
    assert.ok((await whoami([], { configDir: config })).scopes.includes('admin'));
  });

  test('URL precedence: --url, FMDC_URL, the profile; a profile token never goes to another server', async () => {
    const config = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--token', server.adminToken], { configDir: config })).code, 0);
    // FMDC_URL wins over the profile's URL: the dead address is where fmdc goes (with an explicit token).
    const viaEnv = await fmdc(['whoami'], { configDir: config, env: { FMDC_URL: dead, FMDC_TOKEN: tokens.a } });
    assert.equal(viaEnv.code, 3, viaEnv.stderr);
    assert.match(viaEnv.stderr, /127\.0\.0\.1:1 from FMDC_URL/);
    // --url wins over FMDC_URL.
    assert.match((await whoami(['--url', server.url], { configDir: config, env: { FMDC_URL: dead, FMDC_TOKEN: tokens.a } })).name ?? '', /who-a$/);
    // The profile's token is not sent to another origin: no token at all for it.
    const elsewhere = await fmdc(['whoami', '--url', dead], { configDir: config });
    assert.equal(elsewhere.code, 4, elsewhere.stderr);
    assert.match(elsewhere.stderr, /no API token given for http:\/\/127\.0\.0\.1:1/);
    assert.match(elsewhere.stderr, /fmdc login/);
  });

  test('a rejected token or an unreachable server stores nothing', async () => {
    const config = await fresh();
    const bad = await fmdc(['login', '--url', server.url, '--token', 'not-a-jwt'], { configDir: config });
    assert.equal(bad.code, 4, bad.stderr);
    assert.match(bad.stderr, /rejected the token.*Nothing was stored/s);
    const gone = await fmdc(['login', '--url', dead, '--token', tokens.a], { configDir: config });
    assert.equal(gone.code, 3, gone.stderr);
    const empty = await fmdc(['login', '--url', server.url], { configDir: config, input: '\n' });
    assert.equal(empty.code, 2, empty.stderr);
    assert.match(empty.stderr, /no token given/);
    await assert.rejects(stat(path.join(config, 'profiles.json')), { code: 'ENOENT' });
    const notUrl = await fmdc(['login', '--url', 'localhost:8080', '--token', tokens.a], { configDir: config });
    assert.equal(notUrl.code, 2, notUrl.stderr);
    assert.match(notUrl.stderr, /not an http\(s\) URL|not a URL/);
  });

  test('bad token files, a bad profile name and a corrupt profiles file are usage errors that say what to fix', async () => {
    const config = await fresh();
    const missing = await fmdc(['whoami', '--url', server.url, '--token-file', path.join(config, 'nope')], { configDir: config });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /cannot read the token file .*nope: no such file/);
    const emptyFile = path.join(config, 'empty');
    await writeFile(emptyFile, '\n');
    const empty = await fmdc(['whoami', '--url', server.url, '--token-file', emptyFile], { configDir: config });
    assert.equal(empty.code, 2, empty.stderr);
    assert.match(empty.stderr, /is empty/);
    const badName = await fmdc(['whoami', '--profile', '../x'], { configDir: config });
    assert.equal(badName.code, 2, badName.stderr);
    assert.match(badName.stderr, /not a profile name/);
    await writeFile(path.join(config, 'profiles.json'), '{ not json');
    const corrupt = await fmdc(['whoami'], { configDir: config });
    assert.equal(corrupt.code, 2, corrupt.stderr);
    assert.match(corrupt.stderr, /profiles\.json is not valid JSON/);
  });

  test('logout forgets a profile (and says so when there is none); --all forgets every one', async () => {
    const config = await fresh();
    assert.equal((await fmdc(['login', '--url', server.url, '--token', tokens.a], { configDir: config })).code, 0);
    assert.equal((await fmdc(['login', '--url', server.url, '--token', tokens.b, '--profile', 'other'], { configDir: config })).code, 0);
    const out = await fmdc(['logout'], { configDir: config });
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /forgot profile "default"/);
    const after = await fmdc(['whoami'], { configDir: config, env: { FMDC_URL: server.url } });
    assert.equal(after.code, 4);
    assert.match((await whoami(['--profile', 'other'], { configDir: config })).name ?? '', /who-b$/);
    const again = await fmdc(['logout'], { configDir: config });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /no profile "default" stored/);
    assert.deepEqual(json<{ removed: string[] }>(await fmdc(['logout', '--all', '--json'], { configDir: config })).removed, ['other']);
    const stored = JSON.parse(await readFile(path.join(config, 'profiles.json'), 'utf8')) as { profiles: object };
    assert.deepEqual(stored.profiles, {});
  });
});
