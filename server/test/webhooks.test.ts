// Webhooks through the real interfaces: a receiver on a free port gets signed POSTs when a build
// is published (build.state, build.published) and when the update-repo job ends (repo.updated);
// a failing receiver is retried with the same delivery id and every attempt is in the delivery
// log; redirects are not followed and a silent receiver times out; notify() reaches exactly the
// enabled webhooks subscribed to an event; bad input and tokens without the right are refused
// with nothing changed; a worker killed during a POST leaves the delivery to another worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pollFor, startTestServer, type TestServer } from './kit/server.ts';
import { createSignedRepo, testBuilds } from './kit/repo-fixtures.ts';
import { FlatManagerClient } from './kit/flat-manager-client.ts';

type Received = { path: string; headers: http.IncomingHttpHeaders; body: string; at: number };

/** A webhook receiver: records every request; `answer` decides the reply per path. */
class Receiver {
  readonly requests: Received[] = [];
  answer: (r: Received, nth: number) => { status: number; body?: string; headers?: Record<string, string> } | 'hang' = () => ({ status: 200, body: 'ok' });
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      this.requests.push(r);
      const a = this.answer(r, this.requests.filter((x) => x.path === r.path).length);
      if (a === 'hang') return;
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body ?? '');
    });
  });
  url = '';
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  at(path: string) {
    return this.requests.filter((r) => r.path === path);
  }
  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The check a receiver makes: HMAC-SHA256 of the exact body with the secret, in constant time. */
function signatureValid(secret: string, r: Received): boolean {
  const header = String(r.headers['x-fmd-signature-256'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

let s: TestServer;
const rx = new Receiver();

before(async () => {
  await rx.start();
  s = await startTestServer({ 'delay-update-secs': 0, 'job-poll-ms': 200, 'webhook-retry-base-ms': 100, 'webhook-attempts': 3, 'webhook-timeout-ms': 1000 });
  await createSignedRepo(s, 'hooked');
  await createSignedRepo(s, 'other');
});
after(async () => {
  await s?.stop();
  await rx.stop();
});

const HOOK = 'id number repo url events enabled description';
const DELIVERY = 'id number deliveryId event attempt state statusCode error responseBody durationMs nextRetryAt jobNumber payload';

async function createWebhook(input: Record<string, unknown>, token?: string) {
  const r = await s.gql(
    `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { __typename ... on CreateWebhookPayload { secret webhook { ${HOOK} } } ... on Error { message errorType } ... on InvalidInputError { field } } }`,
    { input },
    token,
  );
  return r.body.data?.createWebhook ?? r.body;
}

async function created(input: Record<string, unknown>) {
  const r = await createWebhook(input);
  assert.equal(r.__typename, 'CreateWebhookPayload', JSON.stringify(r));
  return r as { secret: string; webhook: { id: string; number: number } };
}

async function deliveries(id: string, token?: string): Promise<any[]> {
  const r = await s.gql(`query($id: ID!) { webhookDeliveries(webhook: $id, first: 50) { totalCount edges { node { ${DELIVERY} } } } }`, { id }, token);
  assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
  return r.body.data.webhookDeliveries.edges.map((e: any) => e.node);
}

async function testWebhook(id: string, token?: string) {
  const r = await s.gql(`mutation($id: ID!) { testWebhook(input: { id: $id }) { __typename ... on TestWebhookPayload { delivery { ${DELIVERY} } } ... on Error { message errorType } } }`, { id }, token);
  return r.body.data?.testWebhook ?? r.body;
}

async function mint(name: string, scopes: string[], repos?: string[]) {
  const r = await s.gql(`mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreateTokenPayload { token } ... on Error { message } } }`, {
    input: { name, scopes, durationSeconds: 3600, ...(repos ? { repos } : {}) },
  });
  assert.equal(r.body.data.createToken.__typename, 'CreateTokenPayload', JSON.stringify(r.body));
  return r.body.data.createToken.token as string;
}

const webhookCount = async () => s.services.prisma.webhook.count();

test('publishing a build delivers signed build.state, build.published and repo.updated events to the repo webhook and only what a global webhook subscribes to', { timeout: 300_000 }, async () => {
  const secret = 'a-receiver-secret-0123456789';
  const repoHook = await created({ repo: 'hooked', url: `${rx.url}/repo-hook`, events: ['build.state', 'build.published', 'build.failed', 'repo.updated'], secret });
  assert.equal(repoHook.secret, secret);
  const globalHook = await created({ url: `${rx.url}/global-hook`, events: ['build.published'] });
  assert.match(globalHook.secret, /^[0-9a-f]{64}$/, 'a generated secret');
  // Another repo's webhook hears nothing of this repo.
  await created({ repo: 'other', url: `${rx.url}/other-hook`, events: ['build.state', 'build.published', 'repo.updated'] });

  const b = await testBuilds();
  const client = new FlatManagerClient(s.url, s.adminToken);
  const build = await client.createBuild('hooked');
  await client.push(build.url, b.appRepo, { [b.app.ref]: b.app.commit });
  for (const what of ['commit', 'publish'] as const) {
    const started = await client.startJob(build.url, what);
    const done = await client.waitForJob(started.url, 120_000);
    assert.equal(done.job.status, 2, done.log);
  }

  const repoUpdated = await pollFor(() => rx.at('/repo-hook').find((r) => r.headers['x-fmd-event'] === 'repo.updated'), 60_000);
  const published = await pollFor(() => rx.at('/repo-hook').find((r) => r.headers['x-fmd-event'] === 'build.published'), 30_000);
  const globalPublished = await pollFor(() => rx.at('/global-hook')[0], 30_000);
  for (const r of [repoUpdated, published]) {
    assert.ok(signatureValid(secret, r), `signature of ${r.headers['x-fmd-event']}`);
    assert.ok(!signatureValid('another-secret-0123456789', r));
    assert.equal(r.headers['content-type'], 'application/json');
    const body = JSON.parse(r.body);
    assert.equal(body.event, r.headers['x-fmd-event']);
    assert.equal(body.delivery, r.headers['x-fmd-delivery']);
    assert.equal(body.repo, 'hooked');
  }
  assert.ok(signatureValid(globalHook.secret, globalPublished));
  assert.ok(!signatureValid(secret, globalPublished), 'each webhook signs with its own secret');
  const pub = JSON.parse(published.body);
  assert.equal(pub.data.build.id, build.id);
  assert.equal(pub.data.build.publishedState, 'PUBLISHED');
  assert.equal(JSON.parse(repoUpdated.body).data.result, 'ok');
  assert.equal(JSON.parse(globalPublished.body).data.build.id, build.id);

  // build.state followed the build through its steps: committing, ready, publishing, published.
  const states = await pollFor(() => {
    const steps = rx.at('/repo-hook').filter((r) => r.headers['x-fmd-event'] === 'build.state').map((r) => JSON.parse(r.body).data.step);
    return steps.includes('published') ? steps : null;
  }, 30_000);
  for (const step of ['commit', 'committed', 'publish', 'published']) assert.ok(states.includes(step), `build.state for ${step}: ${states}`);
  assert.ok(!rx.at('/repo-hook').some((r) => r.headers['x-fmd-event'] === 'build.failed'));

  // A build whose commit fails (it has no refs) is build.failed.
  const empty = await client.createBuild('hooked');
  const commit = await client.startJob(empty.url, 'commit');
  await client.waitForJob(commit.url, 60_000);
  const failed = await pollFor(() => rx.at('/repo-hook').find((r) => r.headers['x-fmd-event'] === 'build.failed'), 30_000);
  assert.ok(signatureValid(secret, failed));
  const f = JSON.parse(failed.body).data;
  assert.equal(f.build.id, empty.id);
  assert.equal(f.build.state, 'FAILED');
  assert.match(f.build.stateReason, /No refs/);
  assert.equal(rx.at('/global-hook').filter((r) => JSON.parse(r.body).data.build.id === empty.id).length, 0, 'the global webhook does not subscribe to build.failed');
  assert.ok(!rx.at('/global-hook').some((r) => r.headers['x-fmd-event'] !== 'build.published'), 'the global webhook got only build.published');
  assert.equal(rx.at('/other-hook').length, 0);

  // The delivery log shows them delivered, with the receiver's status and answer.
  const log = await pollFor(async () => {
    const d = await deliveries(repoHook.webhook.id);
    return d.length && d.every((x) => x.state === 'SUCCEEDED') ? d : null;
  }, 30_000);
  assert.equal(log.length, rx.at('/repo-hook').length);
  assert.ok(log.every((d) => d.statusCode === 200 && d.responseBody === 'ok' && d.attempt === 1 && typeof d.durationMs === 'number'));
});

test('a failing receiver is retried with the same delivery id and body until it answers 2xx; each attempt is in the log', async () => {
  const hook = await created({ repo: 'hooked', url: `${rx.url}/flaky`, events: ['repo.updated'] });
  rx.answer = (r, nth) => (r.path === '/flaky' && nth === 1 ? { status: 500, body: 'x'.repeat(10_000) } : { status: 200, body: 'ok' });
  const t = await testWebhook(hook.webhook.id);
  assert.equal(t.__typename, 'TestWebhookPayload', JSON.stringify(t));
  assert.equal(t.delivery.event, 'ping');
  assert.equal(t.delivery.attempt, 1);
  const [first, second] = await pollFor(() => (rx.at('/flaky').length >= 2 ? rx.at('/flaky') : null), 15_000);
  assert.equal(first!.headers['x-fmd-delivery'], t.delivery.deliveryId);
  assert.equal(second!.headers['x-fmd-delivery'], t.delivery.deliveryId);
  assert.equal(second!.body, first!.body);
  assert.equal(first!.headers['x-fmd-event'], 'ping');
  assert.ok(signatureValid(hook.secret, second!));
  const log = await pollFor(async () => {
    const d = await deliveries(hook.webhook.id);
    return d.some((x) => x.state === 'SUCCEEDED') ? d : null;
  }, 15_000);
  const byAttempt = [...log].sort((a, b) => a.attempt - b.attempt);
  assert.deepEqual(byAttempt.map((d) => [d.attempt, d.state, d.statusCode]), [[1, 'RETRYING', 500], [2, 'SUCCEEDED', 200]]);
  assert.equal(byAttempt[0].error, 'HTTP 500');
  assert.ok(byAttempt[0].nextRetryAt, 'the failed attempt says when the next one comes');
  assert.equal(byAttempt[0].responseBody.length, 4096, 'the stored answer is capped');
  assert.ok(byAttempt.every((d) => d.deliveryId === t.delivery.deliveryId && d.payload === first!.body));
  rx.answer = () => ({ status: 200, body: 'ok' });
});

test('a receiver that keeps failing gets webhook-attempts attempts, the last one FAILED; a redelivery sends it again', async () => {
  const hook = await created({ repo: 'hooked', url: `${rx.url}/down`, events: ['repo.updated'] });
  rx.answer = (r) => (r.path === '/down' ? { status: 503 } : { status: 200, body: 'ok' });
  const t = await testWebhook(hook.webhook.id);
  const log = await pollFor(async () => {
    const d = await deliveries(hook.webhook.id);
    return d.some((x) => x.state === 'FAILED') ? d : null;
  }, 20_000);
  assert.deepEqual(log.map((d) => [d.attempt, d.state]).sort(), [[1, 'RETRYING'], [2, 'RETRYING'], [3, 'FAILED']]);
  assert.equal(rx.at('/down').length, 3);
  // The retries waited: base, then 5 times longer.
  const [a, b, c] = rx.at('/down');
  assert.ok(b!.at - a!.at >= 100 && c!.at - b!.at >= 500, `waits ${b!.at - a!.at} ms, ${c!.at - b!.at} ms`);
  assert.equal(log.find((d) => d.state === 'FAILED').nextRetryAt, null);

  rx.answer = () => ({ status: 200, body: 'ok' });
  const failed = log.find((d) => d.state === 'FAILED');
  const r = await s.gql(`mutation($id: ID!) { redeliverWebhookDelivery(input: { id: $id }) { __typename ... on RedeliverWebhookDeliveryPayload { delivery { attempt deliveryId } } ... on Error { message } } }`, { id: failed.id });
  assert.equal(r.body.data.redeliverWebhookDelivery.__typename, 'RedeliverWebhookDeliveryPayload', JSON.stringify(r.body));
  assert.equal(r.body.data.redeliverWebhookDelivery.delivery.attempt, 4);
  await pollFor(async () => (await deliveries(hook.webhook.id)).some((d) => d.attempt === 4 && d.state === 'SUCCEEDED'), 15_000);
  assert.equal(rx.at('/down')[3]!.headers['x-fmd-delivery'], t.delivery.deliveryId);
});

test('redirects are not followed and a receiver that does not answer times out', async () => {
  const redirect = await created({ repo: 'hooked', url: `${rx.url}/redirect`, events: ['repo.updated'] });
  const silent = await created({ repo: 'hooked', url: `${rx.url}/silent`, events: ['repo.updated'] });
  rx.answer = (r) => (r.path === '/redirect' ? { status: 307, headers: { location: `${rx.url}/target` } } : r.path === '/silent' ? 'hang' : { status: 200, body: 'ok' });
  await testWebhook(redirect.webhook.id);
  await testWebhook(silent.webhook.id);
  const r = await pollFor(async () => (await deliveries(redirect.webhook.id)).find((d) => d.attempt === 1 && d.state !== 'PENDING'), 15_000);
  assert.equal(r.statusCode, 307);
  assert.match(r.error, /redirects are not followed/);
  const t = await pollFor(async () => (await deliveries(silent.webhook.id)).find((d) => d.attempt === 1 && d.state !== 'PENDING'), 15_000);
  assert.match(t.error, /no answer within 1000 ms/);
  assert.ok(t.durationMs >= 1000);
  assert.equal(rx.at('/target').length, 0);
  // Stop the retries before the file ends.
  await s.gql(`mutation($id: ID!) { deleteWebhook(input: { id: $id }) { __typename } }`, { id: silent.webhook.id });
  await s.gql(`mutation($id: ID!) { deleteWebhook(input: { id: $id }) { __typename } }`, { id: redirect.webhook.id });
  rx.answer = () => ({ status: 200, body: 'ok' });
});

test('notify reaches the enabled webhooks subscribed to the event, of the repo and global ones (repo.fsck_failed)', async () => {
  const fsck = await created({ repo: 'other', url: `${rx.url}/fsck`, events: ['repo.fsck_failed'] });
  const disabled = await created({ repo: 'other', url: `${rx.url}/fsck-disabled`, events: ['repo.fsck_failed'], enabled: false });
  const notSubscribed = await created({ repo: 'other', url: `${rx.url}/fsck-not`, events: ['build.state'] });
  const global = await created({ url: `${rx.url}/fsck-global`, events: ['repo.fsck_failed'] });
  const queued = await s.services.webhooks.notify('repo.fsck_failed', 'other', { errors: ['object abc is corrupted'] });
  assert.equal(queued, 2);
  const r = await pollFor(() => rx.at('/fsck')[0], 15_000);
  await pollFor(() => rx.at('/fsck-global')[0], 15_000);
  assert.equal(r.headers['x-fmd-event'], 'repo.fsck_failed');
  assert.ok(signatureValid(fsck.secret, r));
  assert.deepEqual(JSON.parse(r.body).data, { errors: ['object abc is corrupted'] });
  assert.ok(signatureValid(global.secret, rx.at('/fsck-global')[0]!));
  assert.equal(rx.at('/fsck-disabled').length, 0);
  assert.equal(rx.at('/fsck-not').length, 0);
  assert.equal((await deliveries(disabled.webhook.id)).length, 0);
  assert.equal((await deliveries(notSubscribed.webhook.id)).length, 0);
  // Disabling and enabling through updateWebhook.
  const u = await s.gql(`mutation($id: ID!) { updateWebhook(input: { id: $id, enabled: false }) { __typename ... on UpdateWebhookPayload { webhook { enabled } } } }`, { id: fsck.webhook.id });
  assert.equal(u.body.data.updateWebhook.webhook.enabled, false);
  assert.equal(await s.services.webhooks.notify('repo.fsck_failed', 'other', {}), 1, 'only the global one now');
});

test('bad input is refused with a typed error naming the field, and nothing changes', async () => {
  const before = await webhookCount();
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ repo: 'hooked', url: 'ftp://example.org/hook', events: ['build.state'] }, 'url'],
    [{ repo: 'hooked', url: 'file:///etc/passwd', events: ['build.state'] }, 'url'],
    [{ repo: 'hooked', url: 'not a url', events: ['build.state'] }, 'url'],
    [{ repo: 'hooked', url: 'http://user:pw@example.org/', events: ['build.state'] }, 'url'],
    [{ repo: 'hooked', url: `${rx.url}/x`, events: ['build.nope'] }, 'events'],
    [{ repo: 'hooked', url: `${rx.url}/x`, events: [] }, 'events'],
    [{ repo: 'hooked', url: `${rx.url}/x`, events: ['ping'] }, 'events'],
    [{ repo: 'no-such-repo', url: `${rx.url}/x`, events: ['build.state'] }, 'repo'],
    [{ repo: 'hooked', url: `${rx.url}/x`, events: ['build.state'], secret: 'short' }, 'secret'],
  ];
  for (const [input, field] of cases) {
    const r = await createWebhook(input);
    assert.equal(r.__typename, 'InvalidInputError', `${JSON.stringify(input)}: ${JSON.stringify(r)}`);
    assert.equal(r.field, field, JSON.stringify(input));
  }
  assert.equal(await webhookCount(), before);

  const hook = await created({ repo: 'hooked', url: `${rx.url}/unchanged`, events: ['build.state'] });
  const upd = await s.gql(`mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { __typename ... on InvalidInputError { field } } }`, {
    input: { id: hook.webhook.id, url: 'gopher://example.org', events: ['repo.updated'] },
  });
  assert.equal(upd.body.data.updateWebhook.field, 'url');
  const row = await s.services.prisma.webhook.findUniqueOrThrow({ where: { id: hook.webhook.number } });
  assert.equal(row.url, `${rx.url}/unchanged`);
  assert.deepEqual(row.events, ['build.state']);
  for (const id of ['nope', 'V2ViaG9vazo5OTk5OTk=']) {
    const r = await testWebhook(id);
    assert.ok(['InvalidInputError', 'NotFoundError'].includes(r.__typename), JSON.stringify(r));
  }
  // The secret is stored sealed, not as given.
  const secretRow = await created({ repo: 'hooked', url: `${rx.url}/sealed`, events: ['build.state'], secret: 'sealed-secret-value-123' });
  const sealed = await s.services.prisma.webhook.findUniqueOrThrow({ where: { id: secretRow.webhook.number } });
  assert.ok(!sealed.secretEncrypted.includes('sealed-secret-value-123'));
});

test('tokens without admin may not read or manage webhooks; a repo-scoped admin manages only its repos', async () => {
  const hook = await created({ repo: 'other', url: `${rx.url}/guarded`, events: ['build.state'] });
  const before = await webhookCount();
  const builder = await mint('hooks-builder', ['build', 'upload', 'publish']);
  const list = await s.gql('{ webhooks(first: 10) { totalCount } }', {}, builder);
  assert.equal(list.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', JSON.stringify(list.body));
  const node = await s.gql('query($id: ID!) { node(id: $id) { id } }', { id: hook.webhook.id }, builder);
  assert.equal(node.body.data.node, null);
  assert.equal((await createWebhook({ repo: 'other', url: `${rx.url}/x`, events: ['build.state'] }, builder)).__typename, 'ForbiddenError');
  assert.equal((await testWebhook(hook.webhook.id, builder)).__typename, 'ForbiddenError');
  const del = await s.gql(`mutation($id: ID!) { deleteWebhook(input: { id: $id }) { __typename } }`, { id: hook.webhook.id }, builder);
  assert.equal(del.body.data.deleteWebhook.__typename, 'ForbiddenError');

  const scoped = await mint('hooks-admin-hooked', ['admin'], ['hooked']);
  assert.equal((await createWebhook({ url: `${rx.url}/x`, events: ['build.state'] }, scoped)).__typename, 'ForbiddenError', 'a global webhook needs an unrestricted admin');
  assert.equal((await createWebhook({ repo: 'other', url: `${rx.url}/x`, events: ['build.state'] }, scoped)).__typename, 'ForbiddenError');
  assert.equal(await webhookCount(), before);
  const own = await createWebhook({ repo: 'hooked', url: `${rx.url}/scoped`, events: ['build.state'] }, scoped);
  assert.equal(own.__typename, 'CreateWebhookPayload', JSON.stringify(own));
  const seen = await s.gql('{ webhooks(first: 100) { edges { node { repo } } } }', {}, scoped);
  const repos = seen.body.data.webhooks.edges.map((e: any) => e.node.repo);
  assert.ok(repos.length > 0 && repos.every((r: string | null) => r === 'hooked'), JSON.stringify(repos));
  assert.equal((await s.gql('query($id: ID!) { node(id: $id) { id } }', { id: hook.webhook.id }, scoped)).body.data.node, null);
  assert.equal((await s.gql(`mutation($id: ID!) { deleteWebhook(input: { id: $id }) { __typename } }`, { id: hook.webhook.id }, scoped)).body.data.deleteWebhook.__typename, 'NotFoundError');
  assert.ok(await s.services.prisma.webhook.findUnique({ where: { id: hook.webhook.number } }), 'still there');
});

const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));

function startWorker(): ChildProcess {
  return spawn(process.execPath, [fmd, 'worker'], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: s.dbUrl,
      FMD_SECRET: s.secret,
      // (the master key that opens the webhook secrets is in the data dir)
      FMD_DATA_DIR: s.config.dataDir,
      FMD_JOB_WORKERS: '1',
      FMD_JOB_LOCK_LIFETIME_MS: '2000',
      FMD_JOB_POLL_MS: '200',
      FMD_WEBHOOK_ATTEMPTS: '3',
      FMD_WEBHOOK_RETRY_BASE_MS: '100',
      FMD_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

// Last: it stops this process's worker so that separate worker processes take the deliveries.
test('a worker killed during a POST: the delivery is made again by another worker, as the next attempt with the same delivery id', { timeout: 120_000 }, async () => {
  await s.services.jobEngine.stop(1000);
  const hook = await created({ repo: 'hooked', url: `${rx.url}/crash`, events: ['repo.updated'] });
  let killed: Promise<unknown> | undefined;
  const first = startWorker();
  let second: ChildProcess | undefined;
  rx.answer = (r, nth) => {
    if (r.path !== '/crash') return { status: 200, body: 'ok' };
    if (nth === 1) {
      killed = new Promise((resolve) => first.once('exit', resolve));
      first.kill('SIGKILL');
      return 'hang';
    }
    return { status: 200, body: 'ok' };
  };
  try {
    const t = await testWebhook(hook.webhook.id);
    assert.equal(t.__typename, 'TestWebhookPayload', JSON.stringify(t));
    await pollFor(() => killed !== undefined, 60_000, 50);
    await killed;
    second = startWorker();
    const [a, b] = await pollFor(() => (rx.at('/crash').length >= 2 ? rx.at('/crash') : null), 60_000);
    assert.equal(a!.headers['x-fmd-delivery'], t.delivery.deliveryId);
    assert.equal(b!.headers['x-fmd-delivery'], t.delivery.deliveryId, 'the same delivery id: the receiver can drop the repeat');
    assert.equal(b!.body, a!.body);
    const log = await pollFor(async () => {
      const d = await deliveries(hook.webhook.id);
      return d.some((x) => x.state === 'SUCCEEDED') ? d : null;
    }, 30_000);
    const byAttempt = [...log].sort((x, y) => x.attempt - y.attempt);
    assert.deepEqual(byAttempt.map((d) => [d.attempt, d.state]), [[1, 'FAILED'], [2, 'SUCCEEDED']]);
    assert.match(byAttempt[0].error, /interrupted/);
  } finally {
    for (const w of [first, second]) {
      if (w && w.exitCode === null && w.signalCode === null) {
        w.kill('SIGTERM');
        await new Promise((r) => w.once('exit', r));
      }
    }
    rx.answer = () => ({ status: 200, body: 'ok' });
  }
});
