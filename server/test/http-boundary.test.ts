// The HTTP boundary through real requests: authentication before bodies, body limits, bad
// encodings, the error table's answers (status, flat-manager JSON, request id, log level),
// request timeouts and the /metrics settings.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { createLogger } from '../src/logger.ts';
import { startTestServer, pollFor, type TestServer } from './kit/server.ts';
import { FlatManagerClient, request } from './kit/flat-manager-client.ts';

type LogLine = { level: number; msg: string; reqId?: string; err?: { stack?: string; message?: string }; [k: string]: unknown };
const lines: LogLine[] = [];
const log = createLogger({ logLevel: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
const ERROR = 50;

let s: TestServer;
before(async () => {
  s = await startTestServer({}, { log });
  const r = await s.gql(`mutation { createRepo(input: { name: "stable" }) { __typename } }`);
  assert.equal(r.body.data?.createRepo.__typename, 'RepoPayload', JSON.stringify(r.body));
});
after(async () => {
  await s?.stop();
});

function expectFlatManagerError(r: { status: number; body: any; text: string; headers: http.IncomingHttpHeaders }, status: number, type: string): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body?.status, status, r.text);
  assert.equal(r.body['error-type'], type, r.text);
  assert.equal(typeof r.body.message, 'string');
  assert.doesNotMatch(r.text, /\n\s+at /, 'no stack in the answer');
  assert.match(String(r.headers['x-request-id']), /^[\w.:-]{8,}$/);
}

/** Status counts of /metrics for one route label. */
async function statusCounts(route: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${s.adminToken}` } })).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^fmd_http_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.route === route) out.set(labels.status!, (out.get(labels.status!) ?? 0) + Number(m[2]));
  }
  return out;
}

test('an unauthenticated 50 MB body is answered 401 before the client has sent it', async () => {
  const head = Buffer.from('{"repo": "stable", "padding": "');
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const chunks = 800; // 50 MiB
  const tail = Buffer.from('"}');
  const total = head.length + chunks * chunk.length + tail.length;
  const rssBefore = process.memoryUsage().rss;
  const { status, body, sentWhenAnswered } = await new Promise<{ status: number; body: any; sentWhenAnswered: number }>((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = http.request(`${s.url}/api/v1/build`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(total) } }, (res) => {
      answered = true;
      const sentWhenAnswered = sent;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(parts).toString()), sentWhenAnswered });
      });
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    req.write(head);
    sent += head.length;
    // Sends the next 64 KiB only after the previous one was flushed, and stops at the answer.
    let left = chunks;
    const pump = () => {
      if (answered) return;
      if (left-- === 0) {
        sent += tail.length;
        req.end(tail);
        return;
      }
      sent += chunk.length;
      req.write(chunk, () => setImmediate(pump));
    };
    pump();
  });
  assert.equal(status, 401);
  assert.equal(body['error-type'], 'invalid-token');
  assert.ok(sentWhenAnswered < total / 2, `answered after ${sentWhenAnswered} of ${total} bytes`);
  // The body was never buffered: nothing near its size was allocated.
  assert.ok(process.memoryUsage().rss - rssBefore < 40 * 1024 * 1024);
});

test('a JSON body over 1 MiB is refused with 413 and flat-manager JSON', async () => {
  const r = await request('POST', `${s.url}/api/v1/build`, { token: s.adminToken, json: { repo: 'stable', padding: 'x'.repeat(1024 * 1024 + 10) } });
  expectFlatManagerError(r, 413, 'generic-error');
  // Decoded size counts: 2 MiB of zeros gzip to a few KB.
  const small = gzipSync(Buffer.from(JSON.stringify({ repo: 'stable', padding: '0'.repeat(2 * 1024 * 1024) })));
  assert.ok(small.length < 64 * 1024);
  const z = await request('POST', `${s.url}/api/v1/build`, { token: s.adminToken, body: small, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } });
  expectFlatManagerError(z, 413, 'generic-error');
  // missing_objects takes more than 1 MiB.
  const build = await new FlatManagerClient(s.url, s.adminToken).createBuild('stable');
  const wanted = Array.from({ length: 20_000 }, (_, i) => `${i.toString(16).padStart(64, '0')}.filez`);
  const m = await request('GET', `${build.url}/missing_objects`, { token: s.adminToken, json: { wanted }, gzip: true });
  assert.equal(m.status, 200, m.text);
  assert.deepEqual(m.body.missing, wanted);
});

test('bodies that are not valid in their Content-Encoding are 400, unknown encodings 415; 4xx in /metrics, never an error log or a stack', async () => {
  const logged = lines.length;
  const before400 = (await statusCounts('/build')).get('400') ?? 0;
  const garbage = Buffer.from('this is not compressed at all, not even a little');
  for (const encoding of ['gzip', 'br', 'zstd', 'deflate']) {
    const r = await request('POST', `${s.url}/api/v1/build`, { token: s.adminToken, body: garbage, headers: { 'content-type': 'application/json', 'content-encoding': encoding } });
    expectFlatManagerError(r, 400, 'generic-error');
    assert.match(r.body.message, /bad request body/);
  }
  // Valid compression of invalid JSON: 400 too.
  const br = await request('POST', `${s.url}/api/v1/build`, { token: s.adminToken, body: brotliCompressSync(Buffer.from('{"repo": ')), headers: { 'content-type': 'application/json', 'content-encoding': 'br' } });
  expectFlatManagerError(br, 400, 'generic-error');
  const unknown = await request('POST', `${s.url}/api/v1/build`, { token: s.adminToken, body: garbage, headers: { 'content-type': 'application/json', 'content-encoding': 'compress' } });
  expectFlatManagerError(unknown, 415, 'generic-error');

  // The same on /graphql, whose body anyone may send.
  for (const encoding of ['gzip', 'br', 'zstd']) {
    const g = await request('POST', `${s.url}/graphql`, { body: garbage, headers: { 'content-type': 'application/json', 'content-encoding': encoding } });
    assert.equal(g.status, 400, g.text);
    assert.doesNotMatch(g.text, /\n\s+at /);
  }
  const g = await request('POST', `${s.url}/graphql`, { body: garbage, headers: { 'content-type': 'application/json', 'content-encoding': 'compress' } });
  assert.equal(g.status, 415, g.text);
  // A gzip body that is valid still works there.
  const ok = await request('POST', `${s.url}/graphql`, { json: { query: '{ __typename }' }, gzip: true, headers: { 'apollo-require-preflight': '1' } });
  assert.equal(ok.status, 200, ok.text);

  assert.equal((await statusCounts('/build')).get('400'), before400 + 5);
  assert.ok(((await statusCounts('/graphql')).get('400') ?? 0) >= 3);
  const ours = lines.slice(logged);
  assert.ok(ours.length >= 9, 'each refusal is logged');
  assert.deepEqual(ours.filter((l) => l.level >= ERROR), []);
  assert.ok(ours.every((l) => !l.err?.stack));
});

test('an unexpected failure answers a generic message with the request id; the log has the details under that id', async () => {
  const original = s.services.builds.list;
  s.services.builds.list = async () => {
    s.services.log.warn('listing builds, the slow way');
    throw new Error(`disk trouble at ${s.config.dataDir}/builds`);
  };
  try {
    const r = await request('GET', `${s.url}/api/v1/build`, { token: s.adminToken, headers: { 'x-request-id': 'probe-req-0001' } });
    expectFlatManagerError(r, 500, 'generic-error');
    assert.equal(r.headers['x-request-id'], 'probe-req-0001');
    assert.equal(r.body['request-id'], 'probe-req-0001');
    assert.match(r.body.message, /probe-req-0001/);
    assert.ok(!r.text.includes(s.config.dataDir), r.text);
    const line = lines.find((l) => l.reqId === 'probe-req-0001' && l.level >= ERROR);
    assert.ok(line, 'an error line about that request');
    assert.match(String(line.err?.message), /disk trouble/);
    // A line logged below the HTTP layer while the request ran names it too.
    assert.ok(lines.some((l) => l.msg === 'listing builds, the slow way' && l.reqId === 'probe-req-0001'));
  } finally {
    s.services.builds.list = original;
  }
  // Every answer carries a request id, also successes and other routes.
  for (const path of ['/healthz', '/api/v1/nothing', '/repo/stable/config', '/graphql?query=%7B__typename%7D']) {
    const r = await fetch(`${s.url}${path}`, { headers: { 'apollo-require-preflight': '1' } });
    assert.match(r.headers.get('x-request-id') ?? '', /^[\w.:-]{8,}$/, path);
  }
});

test('/build-repo/<id>/config does not show the server\'s paths', async () => {
  const build = await new FlatManagerClient(s.url, s.adminToken).createBuild('stable');
  const id = build.url.split('/').pop();
  const r = await fetch(`${s.url}/build-repo/${id}/config`);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(text, /mode=archive-z2/);
  assert.ok(!text.includes(s.config.dataDir), text);
  assert.doesNotMatch(text, /parent\s*=/);
});

test('a client that trickles its body is cut off after request-timeout-ms; a normal request is not', async () => {
  const t = await startTestServer({ 'request-timeout-ms': 1500, 'headers-timeout-ms': 1000, 'job-workers': 0 });
  try {
    const port = new URL(t.url).port;
    const sock = net.connect(Number(port), '127.0.0.1');
    let received = '';
    let closed = false;
    sock.on('data', (d) => (received += d.toString()));
    sock.on('close', () => (closed = true));
    sock.on('error', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /api/v1/build HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${t.adminToken}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`);
    const trickle = setInterval(() => sock.writable && sock.write(' '), 200);
    try {
      await pollFor(() => closed, 30_000);
    } finally {
      clearInterval(trickle);
    }
    assert.match(received, /^HTTP\/1\.1 408/);

    // Headers that never end: cut off too.
    const slowHeaders = net.connect(Number(port), '127.0.0.1');
    let headersClosed = false;
    slowHeaders.on('close', () => (headersClosed = true));
    slowHeaders.on('error', () => undefined);
    slowHeaders.write('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    const drip = setInterval(() => slowHeaders.writable && slowHeaders.write('x-a: b\r\n'), 200);
    try {
      await pollFor(() => headersClosed, 30_000);
    } finally {
      clearInterval(drip);
    }

    const r = await request('POST', `${t.url}/api/v1/build`, { token: t.adminToken, json: { repo: 'nope' } });
    assert.equal(r.status, 404, r.text);
  } finally {
    await t.stop();
  }
});

test('/metrics on the API port is an admin\'s, or needs the metrics token when one is set', async () => {
  const plain = await request('GET', `${s.url}/metrics`);
  expectFlatManagerError(plain, 401, 'invalid-token');
  const { token: builder } = (await request('POST', `${s.url}/api/v1/token_subset`, { token: s.adminToken, json: { sub: 'build', scope: ['build'], duration: 600, name: 'builder' } })).body;
  expectFlatManagerError(await request('GET', `${s.url}/metrics`, { token: builder }), 403, 'token-insufficient');
  assert.equal((await request('GET', `${s.url}/metrics`, { token: s.adminToken })).status, 200);

  const token = 'metrics-token-0123456789abcdef';
  const t = await startTestServer({ 'metrics-token': token, 'job-workers': 0 });
  try {
    expectFlatManagerError(await request('GET', `${t.url}/metrics`), 401, 'invalid-token');
    expectFlatManagerError(await request('GET', `${t.url}/metrics`, { token: `${token.slice(0, -1)}x` }), 401, 'invalid-token');
    const ok = await request('GET', `${t.url}/metrics`, { token });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /fmd_http_request_duration_seconds/);
    assert.equal((await request('GET', `${t.url}/metrics`, { token: t.adminToken })).status, 200);
  } finally {
    await t.stop();
  }
});

test('/metrics can be served on its own host:port, and then not on the main port; there the metrics token guards it', async () => {
  const token = 'metrics-token-0123456789abcdef';
  const open = await startTestServer({ 'metrics-listen': '127.0.0.1:0', 'job-workers': 0 });
  const guarded = await startTestServer({ 'metrics-listen': '127.0.0.1:0', 'metrics-token': token, 'job-workers': 0 });
  try {
    for (const t of [open, guarded]) {
      assert.ok(t.http.metricsUrl);
      assert.notEqual(t.http.metricsUrl, t.url);
      expectFlatManagerError(await request('GET', `${t.url}/metrics`, { token: t.adminToken }), 404, 'not-found');
      assert.equal((await fetch(`${t.http.metricsUrl}/graphql`)).status, 404);
    }
    const own = await fetch(`${open.http.metricsUrl}/metrics`);
    assert.equal(own.status, 200);
    assert.match(await own.text(), /fmd_process_cpu_seconds_total/);
    expectFlatManagerError(await request('GET', `${guarded.http.metricsUrl}/metrics`), 401, 'invalid-token');
    expectFlatManagerError(await request('GET', `${guarded.http.metricsUrl}/metrics`, { token: guarded.adminToken }), 401, 'invalid-token');
    assert.equal((await request('GET', `${guarded.http.metricsUrl}/metrics`, { token })).status, 200);
  } finally {
    await open.stop();
    await guarded.stop();
  }
});

test('a subscription posted over HTTP is refused with where subscriptions run, before it runs', async () => {
  const r = await s.gql('subscription { tokensChanged { kind } }');
  assert.equal(r.status, 400);
  assert.equal(r.body.errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
  assert.match(r.body.errors[0].message, /subscriptions run over WebSocket \(the graphql-ws protocol at \/graphql\)/);
});
