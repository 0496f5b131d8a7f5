// Push-triggered builds: git credentials and git sources through GraphQL, the webhook route
// POST /api/v1/hooks/git/<source> with GitHub, Gitea and GitLab events, and the source's life
// with its registering token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { pino } from 'pino';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { createSignedRepo } from './kit/repo-fixtures.ts';
import { buildTestRuntime, tempDir } from './kit/flatpak-fixtures.ts';
import { appFiles, commitFiles, gitBuildConfig, makeGitApp } from './kit/git-fixtures.ts';

let s: TestServer;
/** everything the server logs, down to debug: secrets must never be in it */
const serverLog: string[] = [];

before(async () => {
  const work = await tempDir('fmd-git-hooks-');
  const runtimeRepo = path.join(work, 'rt-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(work, 'rt-work') });
  const log = pino({ level: 'debug' }, { write: (line: string) => void serverLog.push(line) });
  s = await startTestServer({ ...gitBuildConfig(runtimeRepo), 'job-poll-ms': 200, 'delay-update-secs': 0 }, { log });
  await createSignedRepo(s, 'hooks');
  const r = await s.gql(`mutation { createRepo(input: { name: "elsewhere" }) { __typename ... on Error { message } } }`);
  assert.equal(r.body.data?.createRepo?.__typename, 'RepoPayload', JSON.stringify(r.body));
});
after(async () => {
  await s?.stop();
});

// --- helpers -------------------------------------------------------------------------------------

async function gqlOk(query: string, variables: Record<string, unknown> = {}, token: string | null = s.adminToken): Promise<any> {
  const r = await s.gql(query, variables, token);
  assert.ok(!r.body.errors, `${query.slice(0, 80)}: ${JSON.stringify(r.body.errors)}`);
  return r.body.data;
}

async function mintToken(input: Record<string, unknown>): Promise<{ token: string; jti: string }> {
  const d = await gqlOk(
    `mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token apiToken { tokenId } } ... on Error { message } } }`,
    { input: { name: 'hooks test', durationSeconds: 3600, ...input } },
  );
  assert.equal(d.createToken.__typename, 'CreateTokenPayload', JSON.stringify(d.createToken));
  return { token: d.createToken.token, jti: d.createToken.apiToken.tokenId };
}

const sourceFields = 'id number url branch manifestPath appId arch autoPublish enabled disabledReason webhookUrl registeredByTokenId repo { name } credential { number name }';
const register = (input: Record<string, unknown>, token: string = s.adminToken) =>
  s.gql(
    `mutation($input: RegisterGitSourceInput!) { registerGitSource(input: $input) { __typename
       ... on RegisterGitSourcePayload { secret webhookUrl gitSource { ${sourceFields} } } ... on Error { message } ... on InvalidInputError { field } } }`,
    { input },
    token,
  );

async function registerOk(input: Record<string, unknown>, token?: string): Promise<{ id: string; number: number; secret: string; webhookUrl: string; source: any }> {
  const r = await register(input, token);
  const p = r.body.data?.registerGitSource;
  assert.equal(p?.__typename, 'RegisterGitSourcePayload', JSON.stringify(r.body));
  return { id: p.gitSource.id, number: p.gitSource.number, secret: p.secret, webhookUrl: p.webhookUrl, source: p.gitSource };
}

const commit = (n: number) => n.toString(16).padStart(40, 'a');

type Forge = 'github' | 'gitea' | 'gitlab';
type HookOptions = { forge?: Forge; event?: string; secret?: string; sign?: 'good' | 'bad' | 'none'; body?: Buffer; headers?: Record<string, string> };
type HookResult = { status: number; body: any; headers: http.IncomingHttpHeaders };

function pushBody(branch: string, after: string, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ ref: `refs/heads/${branch}`, before: '0'.repeat(40), after, repository: { clone_url: 'https://example.org/x.git' }, ...extra }));
}

/** Sends a webhook request as the forge would, signed with `secret` (or wrongly, or not at all). */
async function hook(source: number | string, o: HookOptions = {}): Promise<HookResult> {
  const forge = o.forge ?? 'github';
  const body = o.body ?? pushBody('main', commit(1));
  const headers: Record<string, string> = { 'content-type': 'application/json', ...o.headers };
  const secret = o.sign === 'bad' ? `${o.secret ?? ''}-wrong` : (o.secret ?? '');
  const mac = createHmac('sha256', secret).update(body).digest('hex');
  if (forge === 'github') {
    headers['x-github-event'] = o.event ?? 'push';
    if (o.sign !== 'none') headers['x-hub-signature-256'] = `sha256=${mac}`;
  } else if (forge === 'gitea') {
    headers['x-gitea-event'] = o.event ?? 'push';
    headers['x-github-event'] = o.event ?? 'push';
    if (o.sign !== 'none') headers['x-gitea-signature'] = mac;
  } else {
    headers['x-gitlab-event'] = o.event ?? 'Push Hook';
    if (o.sign !== 'none') headers['x-gitlab-token'] = secret;
  }
  const res = await fetch(`${s.url}/api/v1/hooks/git/${source}`, { method: 'POST', headers, body: new Uint8Array(body) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: Object.fromEntries(res.headers) };
}

const gitBuildCount = () => s.services.prisma.buildSource.count();

// --- credentials ---------------------------------------------------------------------------------

const { privateKey: sshKey } = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
const httpsToken = 'ghp_hooksTestToken0123456789abcdefSECRET';

const createCredential = (input: Record<string, unknown>, token: string = s.adminToken) =>
  s.gql(
    `mutation($input: CreateGitCredentialInput!) { createGitCredential(input: $input) { __typename
       ... on GitCredentialPayload { gitCredential { id number name kind username repo { name } } } ... on Error { message } ... on InvalidInputError { field } } }`,
    { input },
    token,
  );

test('git credentials: stored sealed, never shown, opened only for cloning', async () => {
  const key = await createCredential({ repo: 'hooks', name: 'deploy key', kind: 'SSH_KEY', secret: sshKey.trim() });
  assert.equal(key.body.data.createGitCredential.__typename, 'GitCredentialPayload', JSON.stringify(key.body));
  const tok = await createCredential({ repo: 'hooks', name: 'https token', kind: 'HTTPS_TOKEN', username: 'x-access-token', secret: httpsToken });
  const cred = tok.body.data.createGitCredential.gitCredential;
  assert.deepEqual({ ...cred, id: undefined, number: undefined }, { id: undefined, number: undefined, name: 'https token', kind: 'HTTPS_TOKEN', username: 'x-access-token', repo: { name: 'hooks' } });

  // No field of the type can carry the secret, and no answer does.
  const fields = (await gqlOk('{ __type(name: "GitCredential") { fields { name } } }')).__type.fields.map((f: any) => f.name);
  assert.deepEqual(fields.sort(), ['createdAt', 'id', 'kind', 'name', 'number', 'repo', 'username']);
  const listed = await s.gql('{ repo(name: "hooks") { gitCredentials(first: 10) { totalCount edges { node { id number name kind username createdAt } } } } }');
  assert.equal(listed.body.data.repo.gitCredentials.totalCount, 2);
  const node = await s.gql('query($id: ID!) { node(id: $id) { id ... on GitCredential { name kind username } } }', { id: cred.id });
  assert.equal(node.body.data.node.name, 'https token');
  for (const answer of [key, tok, listed, node]) {
    const text = JSON.stringify(answer.body);
    assert.ok(!text.includes(httpsToken) && !text.includes('PRIVATE KEY'), `an answer shows a secret: ${text.slice(0, 200)}`);
  }

  // In the database only sealed; open() gives the job what it clones with.
  const rows = await s.services.prisma.gitCredential.findMany();
  for (const r of rows) assert.ok(!r.secretEncrypted.includes(httpsToken) && !r.secretEncrypted.includes('PRIVATE KEY') && r.secretEncrypted.startsWith('fmd-pgp-v1:'));
  assert.deepEqual(await s.services.gitCredentials.open(cred.number), { kind: 'HTTPS_TOKEN', username: 'x-access-token', secret: httpsToken });
  const opened = await s.services.gitCredentials.open(key.body.data.createGitCredential.gitCredential.number);
  assert.equal(opened.kind, 'SSH_KEY');
  assert.equal(opened.secret, `${sshKey.trim()}\n`);
  // A sealed secret moved to another row does not open there.
  const [a, b] = rows;
  await s.services.prisma.gitCredential.update({ where: { id: b!.id }, data: { secretEncrypted: a!.secretEncrypted } });
  await assert.rejects(s.services.gitCredentials.open(b!.id), /cannot decrypt/);
  await s.services.prisma.gitCredential.update({ where: { id: b!.id }, data: { secretEncrypted: b!.secretEncrypted } });

  // Deleting: gone for the API and for open().
  const extra = await createCredential({ repo: 'hooks', name: 'short-lived', kind: 'HTTPS_TOKEN', secret: 'short-lived-token-value' });
  const extraCred = extra.body.data.createGitCredential.gitCredential;
  const del = await gqlOk('mutation($id: ID!) { deleteGitCredential(input: { id: $id }) { __typename ... on DeleteGitCredentialPayload { deletedId number } ... on Error { message } } }', { id: extraCred.id });
  assert.deepEqual(del.deleteGitCredential, { __typename: 'DeleteGitCredentialPayload', deletedId: extraCred.id, number: extraCred.number });
  await assert.rejects(s.services.gitCredentials.open(extraCred.number), /not found/);
  const again = await gqlOk('mutation($id: ID!) { deleteGitCredential(input: { id: $id }) { __typename } }', { id: extraCred.id });
  assert.equal(again.deleteGitCredential.__typename, 'NotFoundError');
});

test('git credentials: bad inputs are refused with the field named, and change nothing', async () => {
  const before = await s.services.prisma.gitCredential.count();
  const base = { repo: 'hooks', name: 'bad', kind: 'HTTPS_TOKEN', secret: 'a-good-token-value' };
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ ...base, name: '' }, 'InvalidInputError', 'name'],
    [{ ...base, name: '   ' }, 'InvalidInputError', 'name'],
    [{ ...base, name: 'x'.repeat(192) }, 'InvalidInputError', 'name'],
    [{ ...base, name: 'line\nbreak' }, 'InvalidInputError', 'name'],
    [{ ...base, name: 'https token' }, 'InvalidInputError', 'name'], // taken
    [{ ...base, secret: '' }, 'InvalidInputError', 'secret'],
    [{ ...base, secret: 'has spaces in it' }, 'InvalidInputError', 'secret'],
    [{ ...base, secret: 'x'.repeat(4097) }, 'InvalidInputError', 'secret'],
    [{ ...base, username: '' }, 'InvalidInputError', 'username'],
    [{ ...base, username: 'a\nb' }, 'InvalidInputError', 'username'],
    [{ ...base, kind: 'SSH_KEY', secret: 'not a key' }, 'InvalidInputError', 'secret'],
    [{ ...base, kind: 'SSH_KEY', secret: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }, 'InvalidInputError', 'secret'],
    [{ ...base, kind: 'SSH_KEY', secret: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----' }, 'InvalidInputError', 'secret'],
    [{ ...base, kind: 'SSH_KEY', secret: sshKey, username: 'git' }, 'InvalidInputError', 'username'],
    [{ ...base, repo: 'no-such-repo' }, 'NotFoundError', ''],
  ];
  for (const [input, type, field] of cases) {
    const r = await createCredential(input);
    const p = r.body.data?.createGitCredential;
    assert.equal(p?.__typename, type, `${JSON.stringify(input).slice(0, 120)}: ${JSON.stringify(r.body)}`);
    if (field) assert.equal(p.field, field, JSON.stringify(p));
  }
  // The enum is checked by GraphQL itself.
  const badKind = await createCredential({ ...base, kind: 'PASSWORD' });
  assert.ok(badKind.body.errors?.length, JSON.stringify(badKind.body));
  for (const id of ['', 'abc', '0', '-1', Buffer.from('GitSource:1').toString('base64'), '99999999999']) {
    const r = await gqlOk('mutation($id: ID!) { deleteGitCredential(input: { id: $id }) { __typename ... on InvalidInputError { field } } }', { id });
    assert.equal(r.deleteGitCredential.__typename, 'InvalidInputError', id);
  }
  assert.equal(await s.services.prisma.gitCredential.count(), before);
});

test('git credentials: only tokens that may build into the repo (and admins) see and manage them', async () => {
  const builder = await mintToken({ scopes: ['build'], repos: ['hooks'] });
  const outsider = await mintToken({ scopes: ['build'], repos: ['elsewhere'] });
  const reader = await mintToken({ scopes: ['download'] });
  const mine = await createCredential({ repo: 'hooks', name: 'builder token', kind: 'HTTPS_TOKEN', secret: 'builder-token-value' }, builder.token);
  assert.equal(mine.body.data.createGitCredential.__typename, 'GitCredentialPayload', JSON.stringify(mine.body));
  const list = (token: string) => s.gql('{ repo(name: "hooks") { gitCredentials(first: 50) { totalCount } } }', {}, token);
  assert.ok((await list(builder.token)).body.data.repo.gitCredentials.totalCount >= 3);
  assert.equal((await list(reader.token)).body.data.repo.gitCredentials.totalCount, 0);
  assert.equal((await list(outsider.token)).body.data.repo, null, 'the repo itself is hidden from a token for another repo');
  for (const [t, refusal] of [[outsider, 'NotFoundError'], [reader, 'ForbiddenError']] as const) {
    const r = await createCredential({ repo: 'hooks', name: 'nope', kind: 'HTTPS_TOKEN', secret: 'some-token-value' }, t.token);
    assert.equal(r.body.data.createGitCredential.__typename, 'ForbiddenError', JSON.stringify(r.body));
    const node = await s.gql('query($id: ID!) { node(id: $id) { id } }', { id: mine.body.data.createGitCredential.gitCredential.id }, t.token);
    assert.equal(node.body.data.node, null);
    const del = await s.gql('mutation($id: ID!) { deleteGitCredential(input: { id: $id }) { __typename } }', { id: mine.body.data.createGitCredential.gitCredential.id }, t.token);
    assert.equal(del.body.data.deleteGitCredential.__typename, refusal);
  }
});

// --- sources and their webhook ---------------------------------------------------------------------

test('registerGitSource: the secret and webhook URL once; the source shows neither secret nor sealed value', async () => {
  const builder = await mintToken({ scopes: ['build', 'publish'], repos: ['hooks'], prefixes: ['org.test'] });
  const cred = (await gqlOk('{ repo(name: "hooks") { gitCredentials(first: 10) { edges { node { id number name } } } } }')).repo.gitCredentials.edges.find((e: any) => e.node.name === 'deploy key').node;
  const r = await registerOk(
    { repo: 'hooks', url: 'https://git.example.org/app.git', branch: 'main', manifestPath: 'org.test.Hello.yml', appId: 'org.test.Hello', arch: 'x86_64', autoPublish: true, credential: cred.id },
    builder.token,
  );
  assert.match(r.secret, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(r.webhookUrl, `/api/v1/hooks/git/${r.number}`);
  assert.deepEqual(
    { ...r.source, id: undefined },
    {
      id: undefined,
      number: r.number,
      url: 'https://git.example.org/app.git',
      branch: 'main',
      manifestPath: 'org.test.Hello.yml',
      appId: 'org.test.Hello',
      arch: 'x86_64',
      autoPublish: true,
      enabled: true,
      disabledReason: null,
      webhookUrl: r.webhookUrl,
      registeredByTokenId: builder.jti,
      repo: { name: 'hooks' },
      credential: { number: cred.number, name: 'deploy key' },
    },
  );
  const fields = (await gqlOk('{ __type(name: "GitSource") { fields { name } } }')).__type.fields.map((f: any) => f.name);
  assert.ok(!fields.some((f: string) => /secret/i.test(f)), fields.join(' '));
  const row = await s.services.prisma.gitSource.findUniqueOrThrow({ where: { id: r.number } });
  assert.ok(!row.webhookSecretEncrypted.includes(r.secret));
  const listed = await s.gql('{ repo(name: "hooks") { gitSources(first: 10) { totalCount edges { node { number } } } } }', {}, builder.token);
  assert.ok(listed.body.data.repo.gitSources.edges.some((e: any) => e.node.number === r.number));
  assert.ok(!JSON.stringify(listed.body).includes(r.secret));

  // A given secret is used as it is.
  const given = await registerOk({ repo: 'hooks', url: 'https://git.example.org/app.git', branch: 'dev', secret: 'a given secret of 24 chars' });
  assert.equal(given.secret, 'a given secret of 24 chars');
  const ping = await hook(given.number, { event: 'ping', secret: 'a given secret of 24 chars', body: Buffer.from('{"zen":"hi"}') });
  assert.equal(ping.status, 200, JSON.stringify(ping.body));
});

test('registerGitSource: bad inputs are refused with the field named, and register nothing', async () => {
  const before = await s.services.prisma.gitSource.count();
  const other = await gqlOk(`mutation { createGitCredential(input: { repo: "elsewhere", name: "other", kind: HTTPS_TOKEN, secret: "other-repo-token" }) { ... on GitCredentialPayload { gitCredential { id } } } }`);
  const base = { repo: 'hooks', url: 'https://git.example.org/app.git', branch: 'main' };
  const noPublish = await mintToken({ scopes: ['build'] });
  const cases: Array<[Record<string, unknown>, string, string | null, string?]> = [
    [{ ...base, url: '' }, 'InvalidInputError', 'url'],
    [{ ...base, url: 'http://git.example.org/app.git' }, 'InvalidInputError', 'url'],
    [{ ...base, url: 'ext::sh -c touch% /tmp/pwned' }, 'InvalidInputError', 'url'],
    [{ ...base, url: 'https://user:password@git.example.org/app.git' }, 'InvalidInputError', 'url'],
    [{ ...base, url: '--upload-pack=touch /tmp/x' }, 'InvalidInputError', 'url'],
    [{ ...base, url: `https://git.example.org/${'a'.repeat(1100)}.git` }, 'InvalidInputError', 'url'],
    [{ ...base, branch: '' }, 'InvalidInputError', 'branch'],
    [{ ...base, branch: 'refs/heads/main' }, 'InvalidInputError', 'branch'],
    [{ ...base, branch: '-main' }, 'InvalidInputError', null],
    [{ ...base, branch: 'a..b' }, 'InvalidInputError', null],
    [{ ...base, branch: 'with space' }, 'InvalidInputError', null],
    [{ ...base, manifestPath: '../outside.yml' }, 'InvalidInputError', 'manifestPath'],
    [{ ...base, manifestPath: '/etc/passwd.yml' }, 'InvalidInputError', 'manifestPath'],
    [{ ...base, manifestPath: 'manifest.txt' }, 'InvalidInputError', 'manifestPath'],
    [{ ...base, appId: 'not-an-app-id' }, 'InvalidInputError', 'appId'],
    [{ ...base, arch: 'x86 64' }, 'InvalidInputError', 'arch'],
    [{ ...base, secret: 'too short' }, 'InvalidInputError', 'secret'],
    [{ ...base, secret: 'sixteen chars or more\nbut a newline' }, 'InvalidInputError', 'secret'],
    [{ ...base, credential: other.createGitCredential.gitCredential.id }, 'InvalidInputError', 'credential'],
    [{ ...base, credential: 'not an id' }, 'InvalidInputError', 'credential'],
    [{ ...base, autoPublish: true }, 'InvalidInputError', 'autoPublish', noPublish.token],
    [{ ...base, repo: 'no-such-repo' }, 'NotFoundError', null],
  ];
  for (const [input, type, field, token] of cases) {
    const r = await register(input, token);
    const p = r.body.data?.registerGitSource;
    assert.equal(p?.__typename, type, `${JSON.stringify(input).slice(0, 140)}: ${JSON.stringify(r.body).slice(0, 300)}`);
    if (field) assert.equal(p.field, field, `${JSON.stringify(input).slice(0, 140)}: ${JSON.stringify(p)}`);
  }
  // Tokens that cannot build there, or whose builds could not be followed.
  const refusals: Array<[Record<string, unknown>, string]> = [
    [{ scopes: ['publish', 'download'] }, 'no build scope'],
    [{ scopes: ['admin'] }, 'admin alone creates no builds'],
    [{ scopes: ['build'], repos: ['elsewhere'] }, 'another repo'],
    [{ scopes: ['build'], prefixes: ['org.other'] }, 'another prefix'],
  ];
  for (const [claims, why] of refusals) {
    const t = await mintToken(claims);
    const r = await register({ ...base, appId: 'org.test.Hello' }, t.token);
    assert.equal(r.body.data?.registerGitSource?.__typename, 'ForbiddenError', `${why}: ${JSON.stringify(r.body)}`);
  }
  assert.equal(await s.services.prisma.gitSource.count(), before);
});

test('the webhook: unknown sources are 404 before the body is read; bodies over 1 MiB are refused', async () => {
  const before = await gitBuildCount();
  for (const id of ['987654', '0', 'abc', '1e3']) {
    const r = await hook(id, { secret: 'whatever' });
    assert.equal(r.status, 404, `${id}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body['error-type'], 'not-found');
  }
  // The client announces 10 MiB and sends only the first KiB: the answer comes anyway.
  const answer = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${s.url}/api/v1/hooks/git/987654`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024), 'x-github-event': 'push' },
      agent: false,
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.write(Buffer.alloc(1024, 0x20));
  });
  assert.equal(answer, 404);

  const src = await registerOk({ repo: 'hooks', url: 'https://git.example.org/big.git', branch: 'main' });
  const big = Buffer.concat([Buffer.from('{"ref":"refs/heads/main","after":"'), Buffer.from(commit(5)), Buffer.from('","pad":"'), Buffer.alloc(1024 * 1024, 0x61), Buffer.from('"}')]);
  const r = await hook(src.number, { secret: src.secret, body: big });
  assert.equal(r.status, 413, JSON.stringify(r.body).slice(0, 200));
  assert.equal(await gitBuildCount(), before);
});

test('the webhook: a wrong, missing or foreign signature is 401 and starts nothing', async () => {
  const src = await registerOk({ repo: 'hooks', url: 'https://git.example.org/signed.git', branch: 'main' });
  const before = await gitBuildCount();
  const lastPush = async () => (await s.services.prisma.gitSource.findUniqueOrThrow({ where: { id: src.number } })).lastPushAt;
  for (const forge of ['github', 'gitea', 'gitlab'] as const) {
    for (const sign of ['bad', 'none'] as const) {
      const r = await hook(src.number, { forge, sign, secret: src.secret });
      assert.equal(r.status, 401, `${forge} ${sign}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body['error-type'], 'invalid-token');
      // A webhook set up without the secret is told which header is missing, not "does not match".
      const expected = { github: 'X-Hub-Signature-256', gitea: 'X-Gitea-Signature', gitlab: 'X-Gitlab-Token' }[forge];
      assert.match(String(r.body.message), sign === 'none' ? new RegExp(`has no ${expected} header`) : /does not match/, `${forge} ${sign}`);
    }
  }
  // Signed right, but as no forge fmd knows; and another source's secret.
  const unknown = await fetch(`${s.url}/api/v1/hooks/git/${src.number}`, { method: 'POST', headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', src.secret).update('{}').digest('hex')}` }, body: '{}' });
  assert.equal(unknown.status, 401);
  const other = await registerOk({ repo: 'hooks', url: 'https://git.example.org/other.git', branch: 'main' });
  assert.equal((await hook(src.number, { secret: other.secret })).status, 401);
  // A ping signed right is answered; other events are ignored; a bad ping is refused.
  assert.equal((await hook(src.number, { event: 'ping', secret: src.secret, body: Buffer.from('{"zen":"z"}') })).status, 200);
  assert.equal((await hook(src.number, { event: 'ping', sign: 'bad', secret: src.secret, body: Buffer.from('{"zen":"z"}') })).status, 401);
  const issue = await hook(src.number, { event: 'issues', secret: src.secret, body: Buffer.from('{}') });
  assert.equal(issue.status, 202, JSON.stringify(issue.body));
  assert.equal(await gitBuildCount(), before);
  assert.equal(await lastPush(), null);
});

test('the webhook: pushes to other branches, deleted branches, tags and malformed events build nothing', async () => {
  const src = await registerOk({ repo: 'hooks', url: 'https://git.example.org/branches.git', branch: 'main' });
  const before = await gitBuildCount();
  const cases: Array<[Forge, Buffer, number]> = [
    ['github', pushBody('feature', commit(2)), 202],
    ['gitea', pushBody('feature', commit(2)), 202],
    ['gitlab', pushBody('feature', commit(2)), 202],
    ['github', pushBody('main', '0'.repeat(40), { deleted: true }), 202],
    ['github', Buffer.from(JSON.stringify({ ref: 'refs/tags/main', after: commit(3) })), 202],
    ['github', Buffer.from('not json'), 400],
    ['github', Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'HEAD' })), 400],
    ['gitlab', Buffer.from(JSON.stringify({ ref: 'refs/heads/main' })), 400],
  ];
  for (const [forge, body, status] of cases) {
    const r = await hook(src.number, { forge, body, secret: src.secret });
    assert.equal(r.status, status, `${forge} ${body.toString().slice(0, 80)}: ${JSON.stringify(r.body)}`);
  }
  const tagHook = await hook(src.number, { forge: 'gitlab', event: 'Tag Push Hook', body: pushBody('main', commit(4)), secret: src.secret });
  assert.equal(tagHook.status, 202);
  assert.equal(await gitBuildCount(), before);
});

test('rotateGitSourceSecret: the new secret works at once, the old one no longer', async () => {
  const src = await registerOk({ repo: 'hooks', url: 'https://git.example.org/rotate.git', branch: 'main' });
  const ping = (secret: string) => hook(src.number, { event: 'ping', secret, body: Buffer.from('{}') });
  assert.equal((await ping(src.secret)).status, 200);
  const r = await gqlOk('mutation($id: ID!) { rotateGitSourceSecret(input: { id: $id }) { __typename ... on RotateGitSourceSecretPayload { secret webhookUrl gitSource { number } } } }', { id: src.id });
  const rotated = r.rotateGitSourceSecret;
  assert.equal(rotated.gitSource.number, src.number);
  assert.notEqual(rotated.secret, src.secret);
  assert.equal((await ping(src.secret)).status, 401);
  assert.equal((await ping(rotated.secret)).status, 200);
  const given = await gqlOk('mutation($id: ID!) { rotateGitSourceSecret(input: { id: $id, secret: "the operator chose this one" }) { ... on RotateGitSourceSecretPayload { secret } } }', { id: src.id });
  assert.equal(given.rotateGitSourceSecret.secret, 'the operator chose this one');
  assert.equal((await ping('the operator chose this one')).status, 200);
  for (const [input, type] of [
    [{ id: src.id, secret: 'short' }, 'InvalidInputError'],
    [{ id: 'nope' }, 'InvalidInputError'],
    [{ id: Buffer.from('GitCredential:1').toString('base64') }, 'InvalidInputError'],
    [{ id: '987654' }, 'NotFoundError'],
  ] as const) {
    const x = await gqlOk('mutation($input: RotateGitSourceSecretInput!) { rotateGitSourceSecret(input: $input) { __typename } }', { input });
    assert.equal(x.rotateGitSourceSecret.__typename, type, JSON.stringify(input));
  }
  assert.equal((await ping('the operator chose this one')).status, 200, 'refused rotations changed nothing');

  // Deleting: the webhook URL is 404 from now on.
  const del = await gqlOk('mutation($id: ID!) { deleteGitSource(input: { id: $id }) { __typename ... on DeleteGitSourcePayload { number } } }', { id: src.id });
  assert.equal(del.deleteGitSource.number, src.number);
  assert.equal((await ping('the operator chose this one')).status, 404);
  assert.equal((await gqlOk('mutation($id: ID!) { deleteGitSource(input: { id: $id }) { __typename } }', { id: src.id })).deleteGitSource.__typename, 'NotFoundError');
  for (const id of ['', 'abc', '0', '-1', '1.5', Buffer.from('GitCredential:1').toString('base64'), '99999999999']) {
    const r = await gqlOk('mutation($id: ID!) { deleteGitSource(input: { id: $id }) { __typename ... on InvalidInputError { field } } }', { id });
    assert.deepEqual(r.deleteGitSource, { __typename: 'InvalidInputError', field: 'id' }, id);
  }
});

test('a source is disabled when its registering token is revoked (or a token it derives from is), or expires', async () => {
  const parent = await mintToken({ scopes: ['build', 'tokenmanagement'], repos: ['hooks'] });
  const childRes = await s.gql(
    `mutation { createToken(input: { name: "child", scopes: ["build"], durationSeconds: 600 }) { ... on CreateTokenPayload { token apiToken { tokenId } } } }`,
    {},
    parent.token,
  );
  const child = { token: childRes.body.data.createToken.token, jti: childRes.body.data.createToken.apiToken.tokenId };
  const direct = await mintToken({ scopes: ['build'], repos: ['hooks'] });
  const a = await registerOk({ repo: 'hooks', url: 'https://git.example.org/revoked.git', branch: 'main' }, direct.token);
  const b = await registerOk({ repo: 'hooks', url: 'https://git.example.org/derived.git', branch: 'main' }, child.token);
  const bystander = await registerOk({ repo: 'hooks', url: 'https://git.example.org/bystander.git', branch: 'main' });
  const state = async (id: string) => (await gqlOk('query($id: ID!) { node(id: $id) { ... on GitSource { enabled disabledReason } } }', { id })).node;

  await gqlOk('mutation($ids: [String!]!) { revokeTokens(input: { tokenIds: $ids }) { __typename } }', { ids: [direct.jti, parent.jti] });
  // The revocation listener disables both, without a push.
  for (const src of [a, b]) {
    const st = await pollFor(async () => {
      const x = await state(src.id);
      return x.enabled === false ? x : null;
    });
    assert.match(st.disabledReason, /revoked/);
  }
  assert.deepEqual(await state(bystander.id), { enabled: true, disabledReason: null });
  const before = await gitBuildCount();
  for (const src of [a, b]) {
    const r = await hook(src.number, { secret: src.secret });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.match(r.body.message, /disabled: the token that registered it was revoked/);
    // Still authenticated first: a wrong signature learns nothing about the source.
    assert.equal((await hook(src.number, { secret: src.secret, sign: 'bad' })).status, 401);
  }
  assert.equal(await gitBuildCount(), before);

  // Expiry: no event, so pushes (and the periodic check) see it.
  const shortLived = await mintToken({ scopes: ['build'], repos: ['hooks'], durationSeconds: 3 });
  const c = await registerOk({ repo: 'hooks', url: 'https://git.example.org/expiring.git', branch: 'main' }, shortLived.token);
  assert.equal((await hook(c.number, { event: 'ping', secret: c.secret, body: Buffer.from('{}') })).status, 200);
  const expired = await pollFor(async () => {
    const r = await hook(c.number, { event: 'ping', secret: c.secret, body: Buffer.from('{}') });
    return r.status === 403 ? r : null;
  }, 15_000, 250);
  assert.match(expired.body.message, /expired/);
  const st = await state(c.id);
  assert.equal(st.enabled, false);
  assert.match(st.disabledReason, /expired/);
  assert.equal(await s.services.gitSources.checkTokens(), 0, 'nothing left to disable');
  assert.equal(await gitBuildCount(), before);
});

// --- pushes that build ---------------------------------------------------------------------------

const buildFields = 'number state stateReason publishedState appId source { url ref commit manifestPath gitSource { number } credential { name } }';

async function buildNow(n: number): Promise<any> {
  return (await gqlOk(`query($n: Int!) { build(number: $n) { ${buildFields} } }`, { n })).build;
}

const over = (b: any) => b.publishedState === 'PUBLISHED' || b.publishedState === 'FAILED' || ['FAILED', 'CANCELLED', 'SUPERSEDED'].includes(b.state);

async function waitForBuild(n: number, done: (b: any) => boolean = over, timeoutMs = 300_000): Promise<any> {
  return pollFor(async () => {
    const b = await buildNow(n);
    return done(b) ? b : null;
  }, timeoutMs, 200);
}

async function logsOf(buildId: number): Promise<string> {
  const jobs = await s.services.prisma.job.findMany({ where: { buildId } });
  return (await Promise.all(jobs.map((j) => s.services.jobRecords.log(j.id)))).join('\n');
}

test('signed GitHub, Gitea and GitLab pushes build the pushed commit and publish it, with the rights of the registering token; the credential never shows in a log', { timeout: 900_000 }, async () => {
  const app = await makeGitApp({ appId: 'org.test.HookHello', message: 'pushed one' });
  const token = await mintToken({ scopes: ['build', 'publish'], repos: ['hooks'], prefixes: ['org.test.HookHello'] });
  const credSecret = 'hooks-credential-must-stay-hidden-42';
  const cred = await createCredential({ repo: 'hooks', name: 'for the hooked app', kind: 'HTTPS_TOKEN', username: 'oauth2', secret: credSecret }, token.token);
  assert.equal(cred.body.data.createGitCredential.__typename, 'GitCredentialPayload', JSON.stringify(cred.body));
  const src = await registerOk(
    { repo: 'hooks', url: app.url, branch: 'main', appId: app.appId, autoPublish: true, credential: cred.body.data.createGitCredential.gitCredential.id },
    token.token,
  );
  let head = app.commit;
  const built: number[] = [];
  for (const forge of ['github', 'gitea', 'gitlab'] as const) {
    if (forge !== 'github') head = await commitFiles(app.dir, appFiles({ appId: app.appId, message: `pushed by ${forge}` }).files, `${forge} push`);
    const r = await hook(src.number, { forge, secret: src.secret, body: pushBody('main', head) });
    assert.equal(r.status, 200, `${forge}: ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body.build, 'number');
    assert.equal(r.headers.location, `${s.url}/api/v1/build/${r.body.build}`);
    const b = await waitForBuild(r.body.build);
    assert.equal(b.state, 'READY', `${forge}: ${JSON.stringify(b)}`);
    assert.equal(b.publishedState, 'PUBLISHED', `${forge}: ${JSON.stringify(b)}`);
    assert.equal(b.source.commit, head, 'the pushed commit is what was built');
    assert.equal(b.source.ref, head);
    assert.equal(b.appId, app.appId);
    assert.deepEqual([b.source.gitSource, b.source.credential], [{ number: src.number }, { name: 'for the hooked app' }]);
    const row = await s.services.prisma.buildSource.findUniqueOrThrow({ where: { buildId: b.number } });
    assert.equal(row.gitSourceId, src.number);
    assert.equal((row.claims as any).jti, token.jti, 'the build acts with the registering token');
    assert.ok(!(await logsOf(b.number)).includes(credSecret), 'the credential appears in a job log');
    built.push(b.number);
  }
  const listed = await gqlOk('query($id: ID!) { node(id: $id) { ... on GitSource { lastPushAt builds(first: 10) { edges { node { number } } } } } }', { id: src.id });
  assert.deepEqual(listed.node.builds.edges.map((e: any) => e.node.number), [...built].reverse());
  assert.ok(listed.node.lastPushAt);
  const refs = await s.services.repos.refs('hooks');
  assert.ok(refs.some((r) => r.ref.startsWith(`app/${app.appId}/`)), refs.map((r) => r.ref).join(' '));
  // Neither the credential nor the webhook secret is in anything the server logged.
  const logged = serverLog.join('');
  assert.match(logged, /a push to a git source started a build/);
  assert.ok(!logged.includes(credSecret), 'the credential is in the server log');
  assert.ok(!logged.includes(src.secret), 'the webhook secret is in the server log');
});

test('three quick pushes build only the last commit: the first two end SUPERSEDED', { timeout: 900_000 }, async () => {
  // Each version's build takes a few seconds, so the first builds are still under way when the last push comes.
  const slow = (message: string) => appFiles({ appId: 'org.test.HookQuick', message, buildCommands: ['sleep 3'] }).files;
  const app = await makeGitApp({ appId: 'org.test.HookQuick', message: 'quick one', buildCommands: ['sleep 3'] });
  const src = await registerOk({ repo: 'hooks', url: app.url, branch: 'main', autoPublish: true });
  const commits = [app.commit, await commitFiles(app.dir, slow('quick two'), 'two'), await commitFiles(app.dir, slow('quick three'), 'three')];
  const answers = [];
  for (const c of commits) answers.push(await hook(src.number, { forge: 'gitea', secret: src.secret, body: pushBody('main', c) }));
  for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
  const [b1, b2, b3] = answers.map((a) => a.body.build as number);
  // The forge delivering the last push again (a lost answer) builds nothing new.
  const again = await hook(src.number, { forge: 'gitea', secret: src.secret, body: pushBody('main', commits[2]!) });
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.deepEqual([again.body.build, again.body.superseded], [b3, []]);
  assert.match(again.body.message, /already being built/);
  // Each push supersedes what is older and unfinished: the second took the first, the third the second.
  assert.deepEqual(answers[0]!.body.superseded, []);
  const superseded = [...answers[1]!.body.superseded, ...answers[2]!.body.superseded].sort((x: number, y: number) => x - y);
  if (superseded.length !== 2) {
    // (what happened to the builds, for the failure message)
    const rows = await s.services.prisma.build.findMany({ where: { id: { in: [b1!, b2!, b3!] } }, select: { id: true, state: true, stateReason: true } });
    const about = serverLog.filter((l) => [b1, b2, b3].some((b) => l.includes(`"build":${b}`) || l.includes(`"buildId":${b}`)));
    assert.fail(`superseded ${JSON.stringify(superseded)}, answers ${JSON.stringify(answers.map((a) => a.body))}, builds ${JSON.stringify(rows)}\n${about.join('')}`);
  }
  assert.deepEqual(superseded, [b1, b2]);
  for (const [old, by] of [[b1!, [b2, b3]], [b2!, [b3]]] as const) {
    const b = await waitForBuild(old, (x) => x.state !== 'WAITING' && x.state !== 'CLONING' && x.state !== 'BUILDING', 60_000);
    assert.equal(b.state, 'SUPERSEDED', JSON.stringify(b));
    assert.ok(by.some((n) => b.stateReason === `superseded by build ${n}`), b.stateReason);
    // flat-manager clients see it failed, with the precise state beside.
    const rest = (await (await fetch(`${s.url}/api/v1/build/${old}`, { headers: { authorization: `Bearer ${s.adminToken}` } })).json()) as any;
    assert.equal(rest.repo_state, 3);
    assert.equal(rest.state, 'superseded');
  }
  const last = await waitForBuild(b3!);
  assert.equal(last.publishedState, 'PUBLISHED', JSON.stringify(last));
  assert.equal(last.source.commit, commits[2]);
  // The superseded builds' jobs are over and built nothing that was committed.
  await pollFor(async () => (await s.services.prisma.job.count({ where: { buildId: { in: [b1!, b2!] }, status: { in: ['NEW', 'STARTED'] } } })) === 0, 60_000, 200);
  assert.equal(await s.services.prisma.job.count({ where: { buildId: { in: [b1!, b2!] }, kind: { in: ['commit', 'publish'] } } }), 0);
});
