// The generated operations against a real server: their selections resolve (fragments included),
// payloads and typed errors come back as typed results, lists page, subscriptions stream, and
// only queries are retried.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { allNodes, createFmdClient, FmdRequestError, isErrorResult, isResult, JobStatus, type FmdClient, type JobFieldsFragment, type PayloadOf, type CreateRepoMutation } from './index.ts';
import { startTestServer, type TestServer } from '../test/server.ts';

let server: TestServer;
let client: FmdClient;
before(async () => {
  server = await startTestServer();
  client = createFmdClient({ url: server.url, token: server.adminToken });
});
after(async () => {
  await client?.close();
  await server?.stop();
});

/** The first event of a subscription that satisfies `done`, ending the subscription. */
async function until<T>(events: AsyncIterable<T>, done: (event: T) => boolean, timeoutMs = 60_000): Promise<T[]> {
  const seen: T[] = [];
  const timer = setTimeout(() => void (events as AsyncIterableIterator<T>).return?.(), timeoutMs);
  try {
    for await (const e of events) {
      seen.push(e);
      if (done(e)) return seen;
    }
  } finally {
    clearTimeout(timer);
  }
  assert.fail(`the subscription ended without the awaited event after ${seen.length} events`);
}

const over = (j: Pick<JobFieldsFragment, 'status'>) => j.status === JobStatus.Ended || j.status === JobStatus.Broken;

describe('operations against a real server', () => {
  test('keys, repos, settings and typed errors', async () => {
    const generated = (await client.generateKey({ input: { name: 'sdk key', email: 'sdk@example.org' } })).generateKey;
    assert.ok(isResult(generated, 'KeyPayload'), JSON.stringify(generated));
    const key = generated.key;
    assert.match(key.fingerprint, /^[0-9A-F]{40}$/i);
    assert.match(key.publicKeyArmored, /BEGIN PGP PUBLIC KEY BLOCK/);

    const created = (await client.createRepo({ input: { name: 'sdk-a', collectionId: 'org.fmd.sdk.A', keyId: key.id, title: 'SDK A' } })).createRepo;
    assert.ok(!isErrorResult(created), JSON.stringify(created));
    // Narrowed to the payload: what PayloadOf names.
    const payload: PayloadOf<CreateRepoMutation['createRepo']> = created;
    assert.equal(payload.repo.key?.fingerprint, key.fingerprint);
    for (const name of ['sdk-b', 'sdk-c']) assert.equal((await client.createRepo({ input: { name } })).createRepo.__typename, 'RepoPayload');

    // A name taken is a typed error, not an exception.
    const taken = (await client.createRepo({ input: { name: 'sdk-a' } })).createRepo;
    assert.ok(isErrorResult(taken));
    assert.equal(taken.__typename, 'InvalidInputError');
    assert.ok(taken.message.length > 0);

    // Pages of one, walked to the end.
    const names: string[] = [];
    for await (const repo of allNodes((after) => client.repos({ first: 1, after }).then((r) => r.repos))) names.push(repo.name);
    assert.deepEqual(names.filter((n) => n.startsWith('sdk-')).sort(), ['sdk-a', 'sdk-b', 'sdk-c']);

    const updated = (await client.updateRepo({ input: { name: 'sdk-a', description: 'changed by the SDK', autoPublish: true } })).updateRepo;
    assert.ok(isResult(updated, 'RepoPayload'), JSON.stringify(updated));
    assert.equal(updated.repo.description, 'changed by the SDK');

    const { repo } = await client.repo({ name: 'sdk-a' });
    assert.equal(repo?.title, 'SDK A');
    assert.equal(repo?.autoPublish, true);
    assert.ok(Array.isArray(repo?.refs.edges));
    assert.equal(repo?.gitSources.totalCount, 0);
    assert.equal((await client.repo({ name: 'no-such-repo' })).repo, null);

    const inUse = (await client.deleteKey({ input: { id: key.id } })).deleteKey;
    assert.ok(isResult(inUse, 'KeyInUseError'), JSON.stringify(inUse));
    assert.deepEqual(inUse.repos, ['sdk-a']);
    assert.equal((await client.key({ id: key.id })).key?.keyId, key.keyId);
    assert.ok((await client.keys({ first: 10 })).keys.edges.some((e) => e.node.id === key.id));

    const node = (await client.node({ id: repo!.id })).node;
    assert.ok(node && isResult(node, 'Repo'));
    assert.equal(node.name, 'sdk-a');
    const nodes = (await client.nodes({ ids: [repo!.id, key.id] })).nodes;
    assert.deepEqual(nodes.map((n) => n?.__typename), ['Repo', 'SigningKey']);
  });

  test('builds and jobs: create, follow over subscriptions, read the log, purge', async () => {
    const created = (await client.createBuild({ input: { repo: 'sdk-b' } })).createBuild;
    assert.ok(isResult(created, 'BuildPayload'), JSON.stringify(created));
    const number = created.build.number;
    assert.equal(created.build.state, 'UPLOADING');
    assert.equal(created.build.repo.name, 'sdk-b');

    // The first event of buildUpdated is the build as it is now.
    const [now] = await until(client.buildUpdated({ number }), () => true);
    assert.equal(now?.buildUpdated.number, number);

    const early = (await client.publishBuild({ input: { build: number } })).publishBuild;
    assert.ok(isResult(early, 'WrongStateError'), JSON.stringify(early));
    assert.equal(early.expectedState, 'ready');

    const { build } = await client.build({ number });
    assert.equal(build?.number, number);
    assert.ok(Array.isArray(build?.jobs.edges));
    const listed = await client.builds({ repo: 'sdk-b', first: 10 });
    assert.deepEqual(
      listed.builds.edges.map((e) => e.node.number),
      [number],
    );

    // Purging runs no job of its own kind we can count on; setRepoKey does (update-repo).
    const purged = (await client.purgeBuild({ input: { build: number } })).purgeBuild;
    assert.ok(isResult(purged, 'BuildPayload'), JSON.stringify(purged));

    const key = (await client.generateKey({ input: { name: 'sdk key 2' } })).generateKey;
    assert.ok(isResult(key, 'KeyPayload'));
    const keyed = (await client.setRepoKey({ input: { repo: 'sdk-c', keyId: key.key.id, overlapSeconds: 0 } })).setRepoKey;
    assert.ok(isResult(keyed, 'RepoPayload'), JSON.stringify(keyed));
    const job = keyed.job;
    assert.ok(job, 'setRepoKey answers its update-repo job');

    const updates = await until(client.jobUpdated({ number: job.number }), (e) => over(e.jobUpdated));
    assert.equal(updates.at(-1)?.jobUpdated.status, JobStatus.Ended, JSON.stringify(updates.at(-1)));

    // The log replayed from the start over the subscription equals the log the query reads.
    let streamed = '';
    for await (const chunk of client.jobLog({ number: job.number })) streamed += chunk.jobLog.text;
    const read = (await client.job({ number: job.number, withLog: true })).job;
    assert.ok(streamed.length > 0, 'an update-repo job logs what it does');
    assert.equal(read?.log?.text, streamed);
    assert.equal((await client.job({ number: job.number })).job?.log, undefined, 'no log unless asked');
    assert.ok((await client.jobs({ first: 50, kind: 'update-repo' })).jobs.edges.some((e) => e.node.number === job.number));

    const gone = (await client.cancelJob({ input: { number: 999_999 } })).cancelJob;
    assert.ok(isResult(gone, 'NotFoundError'), JSON.stringify(gone));
  });

  test('a WebSocket implementation can be injected', async () => {
    let opened = 0;
    class CountingWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        opened++;
      }
    }
    const made = (await client.createBuild({ input: { repo: 'sdk-b' } })).createBuild;
    assert.ok(isResult(made, 'BuildPayload'));
    const own = createFmdClient({ url: server.url, token: server.adminToken, webSocketImpl: CountingWebSocket });
    const [event] = await until(own.buildUpdated({ number: made.build.number }), () => true);
    assert.equal(event?.buildUpdated.number, made.build.number);
    assert.equal(opened, 1);
    await own.close();
  });
});

describe('retries', () => {
  // A real HTTP proxy in front of the server that fails the first `failures` requests (503, or a
  // dropped connection) and forwards the rest.
  async function flakyProxy(failures: number, how: 'status' | 'drop'): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
    let count = 0;
    const target = new URL(server.url);
    const proxy: Server = createServer((req, res) => {
      count++;
      if (count <= failures) {
        if (how === 'drop') req.socket.destroy();
        else res.writeHead(503, { 'content-type': 'text/plain' }).end('restarting');
        return;
      }
      const fwd = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(fwd);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    return {
      url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      requests: () => count,
      close: () => new Promise((r) => proxy.close(() => r())),
    };
  }

  test('a query is retried on 503 and on a dropped connection', async () => {
    for (const how of ['status', 'drop'] as const) {
      const proxy = await flakyProxy(2, how);
      try {
        const c = createFmdClient({ url: proxy.url, token: server.adminToken, retry: { attempts: 3, delayMs: 10 } });
        assert.ok((await c.viewer()).viewer.scopes.includes('admin'));
        assert.equal(proxy.requests(), 3, how);
      } finally {
        await proxy.close();
      }
    }
  });

  test('a query gives up after its attempts with FmdRequestError', async () => {
    const proxy = await flakyProxy(10, 'status');
    try {
      const c = createFmdClient({ url: proxy.url, token: server.adminToken, retry: { attempts: 2, delayMs: 10 } });
      await assert.rejects(c.viewer(), (e: unknown) => e instanceof FmdRequestError && e.status === 503);
      assert.equal(proxy.requests(), 2);
    } finally {
      await proxy.close();
    }
  });

  test('a mutation is never retried', async () => {
    const proxy = await flakyProxy(1, 'drop');
    try {
      const c = createFmdClient({ url: proxy.url, token: server.adminToken, retry: { attempts: 5, delayMs: 10 } });
      await assert.rejects(c.createRepo({ input: { name: 'sdk-retried' } }), (e: unknown) => e instanceof FmdRequestError && e.status === 0);
      assert.equal(proxy.requests(), 1);
      assert.equal((await client.repo({ name: 'sdk-retried' })).repo, null);
    } finally {
      await proxy.close();
    }
  });

  test('documents given as strings: a shorthand query is retried, a mutation after its fragments is not', async () => {
    const proxy = await flakyProxy(1, 'status');
    try {
      const c = createFmdClient({ url: proxy.url, token: server.adminToken, retry: { attempts: 3, delayMs: 10 } });
      const data = await c.request<{ viewer: { scopes: string[] } }>('# who am I\n{ viewer { scopes } }');
      assert.ok(data.viewer.scopes.includes('admin'));
      assert.equal(proxy.requests(), 2);
    } finally {
      await proxy.close();
    }
    const again = await flakyProxy(1, 'status');
    try {
      const c = createFmdClient({ url: again.url, token: server.adminToken, retry: { attempts: 3, delayMs: 10 } });
      const mutation = 'fragment E on Error { message }\nmutation { createRepo(input: { name: "sdk-string" }) { __typename ...E } }';
      await assert.rejects(c.request(mutation), (e: unknown) => e instanceof FmdRequestError && e.status === 503);
      assert.equal(again.requests(), 1);
    } finally {
      await again.close();
    }
  });

  test('an aborted query is not retried and rejects with the abort reason', async () => {
    const proxy = await flakyProxy(0, 'status');
    try {
      const c = createFmdClient({ url: proxy.url, token: server.adminToken, retry: { attempts: 5, delayMs: 10 } });
      await assert.rejects(c.viewer(undefined, { signal: AbortSignal.abort() }), (e: unknown) => e instanceof DOMException && e.name === 'AbortError');
      assert.equal(proxy.requests(), 0);
    } finally {
      await proxy.close();
    }
  });

  test('a GraphQL error (4xx) is not retried', async () => {
    const proxy = await flakyProxy(0, 'status');
    try {
      const c = createFmdClient({ url: proxy.url, token: 'not-a-jwt', retry: { attempts: 5, delayMs: 10 } });
      await assert.rejects(c.viewer(), (e: unknown) => e instanceof FmdRequestError && e.code === 'UNAUTHENTICATED');
      assert.equal(proxy.requests(), 1);
    } finally {
      await proxy.close();
    }
  });
});
