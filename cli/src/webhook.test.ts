// `fmdc webhook` as a child process against a real server and a real receiver: create (the
// secret alone on stdout), list, update, test (the ping arrives, signed), deliveries, delete;
// bad input and a token without the admin scope.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { startTestServer, type TestServer } from '../test/server.ts';
import { fmdc as runFmdc, type Run } from '../test/fmdc.ts';

function fmdc(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return runFmdc(args, { env });
}

function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit 0 expected; stdout: ${run.stdout} stderr: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

async function until<T>(check: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Webhook = { number: number; repo: string | null; url: string; events: string[]; enabled: boolean };
type Delivery = { deliveryId: string; event: string; attempt: number; state: string; statusCode: number | null };

describe('fmdc webhook', () => {
  let server: TestServer;
  let env: Record<string, string>;
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.end('thanks');
    });
  });
  let hookUrl = '';
  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    server = await startTestServer();
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  test('create, list, update, test, deliveries and delete; bad input and non-admins refused', async () => {
    const repo = await fmdc(['repo', 'create', 'cli-hooked'], env);
    assert.equal(repo.code, 0, `${server.url} ${hookUrl} ${repo.stderr}`);
    const created = await fmdc(['webhook', 'create', hookUrl, '--repo', 'cli-hooked', '--event', 'build.published,repo.updated'], env);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^[0-9a-f]{64}$/, 'just the secret on stdout');
    assert.match(created.stderr, /created webhook (\d+) for cli-hooked: build\.published, repo\.updated/);
    const number = created.stderr.match(/created webhook (\d+)/)![1]!;

    const table = await fmdc(['webhook', 'list'], env);
    assert.match(table.stdout, /^NUMBER\s+REPO\s+URL\s+EVENTS\s+ENABLED$/m);
    assert.match(table.stdout, new RegExp(`${number}\\s+cli-hooked\\s+\\S+/hook\\s+build\\.published,repo\\.updated\\s+yes`));
    const list = json<{ totalCount: number; nodes: Webhook[] }>(await fmdc(['webhook', 'list', '--repo', 'cli-hooked', '--json'], env));
    assert.equal(list.totalCount, 1);
    assert.deepEqual(list.nodes[0]!.events, ['build.published', 'repo.updated']);

    const disabled = json<Webhook>(await fmdc(['webhook', 'update', number, '--disable', '--json'], env));
    assert.equal(disabled.enabled, false);

    // A ping goes out even to a disabled webhook; the receiver checks its signature.
    const t = json<Delivery>(await fmdc(['webhook', 'test', number, '--json'], env));
    assert.equal(t.event, 'ping');
    const got = await until(async () => received.find((r) => r.headers['x-fmd-delivery'] === t.deliveryId));
    assert.equal(got.headers['x-fmd-signature-256'], `sha256=${createHmac('sha256', secret).update(got.body).digest('hex')}`);
    const log = await until(async () => {
      const page = json<{ nodes: Delivery[] }>(await fmdc(['webhook', 'deliveries', number, '--json'], env));
      return page.nodes.find((d) => d.state === 'SUCCEEDED') ? page : null;
    });
    assert.equal(log.nodes[0]!.statusCode, 200);
    const shown = await fmdc(['webhook', 'deliveries', number], env);
    assert.match(shown.stdout, new RegExp(`ping\\s+${t.deliveryId}\\s+1\\s+succeeded\\s+200`));

    const bad = await fmdc(['webhook', 'create', 'ftp://example.org/x', '--event', 'build.state'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /http or https/);
    const badEvent = await fmdc(['webhook', 'update', number, '--event', 'build.nope'], env);
    assert.notEqual(badEvent.code, 0);
    assert.match(badEvent.stderr, /unknown event/);
    assert.equal((await fmdc(['webhook', 'update', number], env)).code, 2, 'nothing to change');

    const builder = (await fmdc(['token', 'create', 'cli-hooks-builder', '--scope', 'build', '--duration', '1h'], env)).stdout.trim();
    const refused = await fmdc(['webhook', 'list'], { ...env, FMDC_TOKEN: builder });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /forbidden|admin/i);

    assert.equal((await fmdc(['webhook', 'delete', number], env)).code, 2, 'no terminal to ask on without --yes');
    const deleted = await fmdc(['webhook', 'delete', number, '--yes'], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(json<{ totalCount: number }>(await fmdc(['webhook', 'list', '--json'], env)).totalCount, 0);
  });
});
