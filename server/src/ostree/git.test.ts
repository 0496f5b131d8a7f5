import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdtemp, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../domain/errors.ts';
import { runTool, ToolError } from './exec.ts';
import { cloneAt, gitCredentialEnv, lsRemote, validateGitRef, validateGitUrl } from './git.ts';
import { createJail, jailOwner } from '../domain/builds/git/jail.ts';
import { ensureBuilderUser } from '../../test/kit/builder-user.ts';

const ident = ['-c', 'user.name=fmd test', '-c', 'user.email=test@fmd.invalid', '-c', 'init.defaultBranch=main'];

async function g(cwd: string, ...args: string[]): Promise<string> {
  return (await runTool('git', [...ident, ...args], { cwd })).stdout.trim();
}

async function commitFile(repo: string, file: string, content: string): Promise<string> {
  await writeFile(path.join(repo, file), content);
  await g(repo, 'add', file);
  await g(repo, 'commit', '-q', '-m', `${file}: ${content}`);
  return g(repo, 'rev-parse', 'HEAD');
}

/** A repo with main (3 commits), branch `feature` and annotated tag v1 on main's second commit. */
async function makeRepo() {
  const root = await mkdtemp(path.join(tmpdir(), 'fmd-git-'));
  const repo = path.join(root, 'src');
  await mkdir(repo);
  await g(repo, 'init', '-q');
  const first = await commitFile(repo, 'a.txt', 'one');
  const second = await commitFile(repo, 'a.txt', 'two');
  await g(repo, 'tag', '-a', '-m', 'release 1', 'v1');
  const third = await commitFile(repo, 'a.txt', 'three');
  await g(repo, 'checkout', '-q', '-b', 'feature', first);
  const feature = await commitFile(repo, 'a.txt', 'feature');
  await g(repo, 'checkout', '-q', 'main');
  return { root, repo, url: `file://${repo}`, first, second, third, feature };
}

const fixture = makeRepo();

test('clones a branch, a tag, HEAD and an exact older commit, shallowly, recording the commit', async () => {
  const r = await fixture;
  const cases: Array<[string, string, string]> = [
    ['feature', r.feature, 'feature'],
    ['v1', r.second, 'two'],
    ['refs/heads/main', r.third, 'three'],
    ['HEAD', r.third, 'three'],
    [r.first, r.first, 'one'],
  ];
  for (const [ref, commit, content] of cases) {
    const dest = path.join(r.root, `clone-${ref.replace(/\//g, '_')}`);
    const out = await cloneAt({ url: r.url, ref, dest, schemes: ['file'] });
    assert.equal(out.commit, commit, ref);
    assert.equal(await readFile(path.join(dest, 'a.txt'), 'utf8'), content, ref);
    assert.equal(await g(dest, 'rev-list', '--count', 'HEAD'), '1', `${ref}: shallow`);
  }
});

test('an exact commit from a server that only serves ref tips (protocol v0): found in a full fetch', async () => {
  const r = await fixture;
  const env = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'protocol.version', GIT_CONFIG_VALUE_0: '0' };
  // Under protocol v0 this server refuses the shallow fetch of a non-tip commit ("unadvertised object").
  const out = await cloneAt({ url: r.url, ref: r.first, dest: path.join(r.root, 'clone-v0'), env, schemes: ['file'] });
  assert.equal(out.commit, r.first);
  assert.equal(await readFile(path.join(r.root, 'clone-v0', 'a.txt'), 'utf8'), 'one');
});

test('clones submodules at the commit the superproject records', async () => {
  const r = await fixture;
  const sup = path.join(r.root, 'super');
  await mkdir(sup);
  await g(sup, 'init', '-q');
  await commitFile(sup, 'README', 'super');
  // A file:// submodule needs protocol.file.allow for the set-up commands too.
  await g(sup, '-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', r.url, 'dep');
  await g(sup, '-C', 'dep', 'checkout', '-q', r.second);
  await g(sup, 'commit', '-q', '-am', 'dep at two');
  const superCommit = await g(sup, 'rev-parse', 'HEAD');
  for (const ref of ['main', superCommit]) {
    const dest = path.join(r.root, `super-clone-${ref.length}`);
    const out = await cloneAt({ url: `file://${sup}`, ref, dest, schemes: ['file'] });
    assert.equal(out.commit, superCommit);
    assert.equal(await readFile(path.join(dest, 'dep', 'a.txt'), 'utf8'), 'two');
  }
});

test('the allowed schemes bind git itself, submodules included', async () => {
  const r = await fixture;
  await assert.rejects(
    cloneAt({ url: r.url, ref: 'main', dest: path.join(r.root, 'refused'), schemes: ['https'] }),
    (err: unknown) => err instanceof ToolError && /transport 'file' not allowed/.test(err.stderr),
  );
});

test('a bad URL, a missing branch and a missing commit fail with git\'s reason', async () => {
  const r = await fixture;
  await assert.rejects(
    cloneAt({ url: `file://${r.root}/nope`, ref: 'main', dest: path.join(r.root, 'bad1'), schemes: ['file'] }),
    (err: unknown) => err instanceof ToolError && /does not appear to be a git repository|not found/i.test(err.stderr),
  );
  await assert.rejects(
    cloneAt({ url: r.url, ref: 'no-such-branch', dest: path.join(r.root, 'bad2'), schemes: ['file'] }),
    (err: unknown) => err instanceof ToolError && /no-such-branch/.test(err.stderr),
  );
  await assert.rejects(
    cloneAt({ url: r.url, ref: 'f'.repeat(40), dest: path.join(r.root, 'bad3'), schemes: ['file'] }),
    /commit f{40} is not in file:/,
  );
});

test('lsRemote resolves branches and peeled tags, and answers null for a missing ref', async () => {
  const r = await fixture;
  assert.equal(await lsRemote(r.url, 'feature', undefined), r.feature);
  assert.equal(await lsRemote(r.url, 'v1', undefined), r.second);
  assert.equal(await lsRemote(r.url, 'HEAD', undefined), r.third);
  assert.equal(await lsRemote(r.url, 'missing', undefined), null);
});

test('validateGitUrl: schemes, credentials, remote helpers, options', () => {
  const schemes = ['https', 'ssh'];
  for (const ok of [
    'https://github.com/flathub/org.example.App.git',
    'ssh://git@github.com/flathub/x.git',
    'git@github.com:flathub/x.git',
    'git+ssh://git@host/x',
  ]) {
    assert.doesNotThrow(() => validateGitUrl(ok, schemes), ok);
  }
  const bad: Array<[string, RegExp]> = [
    ['file:///srv/repo', /scheme "file" is not allowed/],
    ['/srv/repo', /scheme "file" is not allowed/],
    ['http://example.com/x', /scheme "http" is not allowed/],
    ['https://user:pw@github.com/x', /credentials inside the git URL/],
    ['https://ghp_token@github.com/x', /credentials inside the git URL/],
    ['ssh://git:pw@github.com/x', /credentials inside the git URL/],
    ['ext::sh -c touch% /tmp/pwned', /remote-helper/],
    ['fd::17', /remote-helper/],
    ['-uhttps://x', /cannot start with "-"/],
    ['ssh://-oProxyCommand=x/y', /host cannot start with "-"/],
    ['https://github.com/x\nfoo', /control characters/],
    ['', /empty/],
  ];
  for (const [url, re] of bad) {
    assert.throws(() => validateGitUrl(url, schemes), (e: unknown) => e instanceof InvalidInputError && re.test(e.message), url);
  }
  assert.doesNotThrow(() => validateGitUrl('file:///srv/repo', ['file']));
  assert.throws(() => validateGitUrl('/srv/repo', ['file']), /file:\/\/ URL/);
});

test('validateGitRef follows check-ref-format and accepts full commit ids', () => {
  for (const ok of ['main', 'release/1.2', 'v1.0.0', 'refs/heads/main', 'a'.repeat(40), 'HEAD']) {
    assert.doesNotThrow(() => validateGitRef(ok), ok);
  }
  for (const bad of ['', '-b', '--upload-pack=x', 'a..b', 'a b', 'x~1', 'x^', 'a:b', 'a/', '/a', 'a//b', '.a', 'a/.b', 'x.lock', 'a@{1}', '@', 'x.', 'a\\b', 'a*']) {
    assert.throws(() => validateGitRef(bad), InvalidInputError, JSON.stringify(bad));
  }
});

test('gitCredentialEnv: an ssh key in a 0600 file, used through GIT_SSH_COMMAND with accept-new known hosts', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fmd-cred-'));
  const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END OPENSSH PRIVATE KEY-----';
  const env = await gitCredentialEnv({ kind: 'SSH_KEY', username: null, secret }, path.join(dir, 'cred'));
  const key = path.join(dir, 'cred', 'ssh-key');
  assert.equal((await stat(key)).mode & 0o777, 0o600);
  assert.equal((await stat(path.join(dir, 'cred'))).mode & 0o777, 0o700);
  assert.equal(await readFile(key, 'utf8'), `${secret}\n`);
  assert.match(env.GIT_SSH_COMMAND!, /-i '.*\/cred\/ssh-key'/);
  assert.match(env.GIT_SSH_COMMAND!, /StrictHostKeyChecking=accept-new/);
  assert.match(env.GIT_SSH_COMMAND!, /UserKnownHostsFile=.*\/cred\/known_hosts/);
  assert.equal(env.GIT_TERMINAL_PROMPT, '0');
  for (const v of Object.values(env)) assert.ok(!v?.includes('c2VjcmV0'), 'the key is not in the environment');
});

test('gitCredentialEnv: git runs ssh with the key file and host-key options, and the key never in its argv', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'fmd-cred-'));
  const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nS0VZLUNPTlRFTlQtbWFya2Vy\n-----END OPENSSH PRIVATE KEY-----';
  const env = await gitCredentialEnv({ kind: 'SSH_KEY', username: 'deploy', secret }, path.join(dir, 'cred'));
  // An ssh that records how git called it (one argument per line) and fails like an unreachable host.
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  const log = path.join(dir, 'ssh-argv');
  await writeFile(path.join(bin, 'ssh'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > '${log}'\nexit 255\n`, { mode: 0o755 });
  const lines: string[] = [];
  await assert.rejects(
    lsRemote('ssh://git@git.example.invalid/org/app.git', 'main', env, {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, GIT_TRACE: '1' },
      onLine: (l) => lines.push(l),
    }),
    ToolError,
  );
  const argv = (await readFile(log, 'utf8')).split('\n');
  const key = path.join(dir, 'cred', 'ssh-key');
  assert.equal(argv[argv.indexOf('-i') + 1], key);
  assert.ok(argv.includes('StrictHostKeyChecking=accept-new'));
  assert.ok(argv.includes(`UserKnownHostsFile=${path.join(dir, 'cred', 'known_hosts')}`));
  assert.ok(argv.includes('BatchMode=yes'));
  assert.ok(argv.includes('git@git.example.invalid'), argv.join(' '));
  assert.ok(!argv.some((a) => a.includes('S0VZLUNPTlRFTlQtbWFya2Vy')), 'the key is not in ssh\'s argv');
  assert.ok(!lines.some((l) => l.includes('S0VZLUNPTlRFTlQtbWFya2Vy')), 'nor in any output line');
});

/** git's smart HTTP (git http-backend as CGI) behind HTTP basic auth with one token. */
async function startGitHttp(projectRoot: string, token: string) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    const auth = req.headers.authorization ?? '';
    const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
    // Forges take any user name with a token; this one wants the user name git was told to send.
    if (!auth.startsWith('Basic ') || pass !== token || !user) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const u = new URL(req.url!, 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: user,
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (c: Buffer) => {
      if (headersDone) return void res.write(c);
      head = Buffer.concat([head, c]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else res.setHeader(k, v);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test('gitCredentialEnv: an HTTP(S) token reaches the server through askpass, never through argv or output', async () => {
  const r = await fixture;
  const token = 'ghp_S3cretTokenValue0123456789';
  const http = await startGitHttp(path.dirname(r.repo), token);
  try {
    const url = `${http.base}/src`;
    validateGitUrl(url, ['http']);
    const dir = await mkdtemp(path.join(tmpdir(), 'fmd-cred-'));
    const env = await gitCredentialEnv({ kind: 'HTTPS_TOKEN', username: null, secret: token }, path.join(dir, 'cred'));
    assert.equal((await stat(path.join(dir, 'cred', 'token'))).mode & 0o777, 0o600);
    for (const v of Object.values(env)) assert.ok(!v?.includes(token), 'the token is not in the environment');

    const lines: string[] = [];
    const traced = { ...process.env, GIT_TRACE: '1', GIT_CURL_VERBOSE: '0', HOME: dir };
    const out = await cloneAt(
      { url, ref: 'feature', dest: path.join(dir, 'clone'), env, schemes: ['http'] },
      { env: traced, onLine: (l) => lines.push(l) },
    );
    assert.equal(out.commit, r.feature);
    assert.ok(lines.some((l) => l.includes('askpass')), 'git asked the askpass helper');
    assert.ok(!lines.some((l) => l.includes(token)), 'the token is in no output line (GIT_TRACE shows every argv)');
    assert.ok(http.seen.includes(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`), 'the server got the credentials');

    // Without the credential the same clone is refused, and git does not prompt.
    await assert.rejects(
      cloneAt({ url, ref: 'feature', dest: path.join(dir, 'clone2'), schemes: ['http'] }, { env: { ...process.env, HOME: dir } }),
      (err: unknown) => err instanceof ToolError && /Authentication failed|could not read Username/i.test(err.stderr),
    );
  } finally {
    await http.close();
  }
});

test('in the build jail: a clone with an HTTP token, as the jail user, seeing only what it is given', async () => {
  await ensureBuilderUser();
  const r = await fixture;
  const token = 'glpat-JailedTokenValue42';
  const http = await startGitHttp(path.dirname(r.repo), token);
  try {
    const root = await mkdtemp(path.join(tmpdir(), 'fmd-jailed-clone-'));
    await chmod(root, 0o755);
    const work = path.join(root, 'work');
    const credDir = path.join(root, 'cred');
    await mkdir(work);
    const env = await gitCredentialEnv({ kind: 'HTTPS_TOKEN', username: 'oauth2', secret: token }, credDir, await jailOwner());
    // The jail is made once the credential dir exists, so it can be bound read-only.
    const jailed = await createJail({ workDir: work, writable: [], readOnly: [credDir] });
    const out = await cloneAt(
      { url: `${http.base}/src`, ref: 'feature', dest: path.join(work, 'checkout'), env: { ...env, HOME: work }, schemes: ['http'], jail: jailed },
      { timeoutMs: 60_000 },
    );
    assert.equal(out.commit, r.feature);
    assert.ok(http.seen.includes(`Basic ${Buffer.from(`oauth2:${token}`).toString('base64')}`), 'the given user name was sent');
    const owner = jailed.owner;
    if (owner) {
      assert.equal((await stat(path.join(work, 'checkout', 'a.txt'))).uid, owner.uid);
      assert.equal((await stat(path.join(credDir, 'token'))).uid, owner.uid);
      assert.equal((await stat(path.join(credDir, 'token'))).mode & 0o777, 0o600);
    }
    // A local repository the jail was not given does not exist for it, whatever the allowed schemes.
    await assert.rejects(
      cloneAt({ url: r.url, ref: 'main', dest: path.join(work, 'local'), schemes: ['file'], jail: jailed }),
      (err: unknown) => err instanceof ToolError && /does not appear to be a git repository|not found/i.test(err.stderr),
    );
  } finally {
    await http.close();
  }
});
