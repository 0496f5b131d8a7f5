// `fmdc build bundle`: the real fmdc against a real server, through a proxy that cuts the first
// download of the bundle half-way: fmdc follows the bundle job, then downloads the .flatpak and
// resumes the cut download with Range; the file is the server's, byte for byte. Bad inputs fail
// with the server's typed error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBuildServer, type BuildKit } from '../test/server.ts';
import { fmdc } from '../test/fmdc.ts';

let k: BuildKit;
let proxy: http.Server;
let proxyUrl: string;
let work: string;
/** bundle downloads the proxy has cut off */
let cut = 0;

before(async () => {
  k = await startBuildServer();
  await k.createSignedRepo('bund');
  work = await mkdtemp(path.join(tmpdir(), 'fmdc-bundle-'));
  const upstream = new URL(k.server.url);
  proxy = http.createServer((req, res) => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      const cutThis = req.method === 'GET' && req.url!.startsWith('/bundles/') && ur.statusCode === 200 && cut === 0;
      if (!cutThis) return void ur.pipe(res);
      // Half the file, then the connection drops.
      const half = Math.floor(Number(ur.headers['content-length']) / 2);
      let sent = 0;
      ur.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        const piece = chunk.subarray(0, half - sent);
        sent += piece.length;
        const last = sent >= half;
        // (after the bytes are out: a socket destroyed at once may drop what is still buffered)
        res.write(piece, () => {
          if (!last) return;
          cut++;
          ur.destroy();
          res.socket?.destroy();
        });
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  // WebSockets (the job log's subscription) pass through as they are.
  proxy.on('upgrade', (req, socket, head) => {
    const up = net.connect(Number(upstream.port), upstream.hostname, () => {
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([h, v]) => `${h}: ${String(v)}`).join('\r\n')}\r\n\r\n`);
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});
after(async () => {
  proxy?.close();
  await k?.server.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

test('fmdc build bundle follows the bundle job, downloads the .flatpak and resumes a cut download', { timeout: 300_000 }, async () => {
  const created = await k.server.gql('mutation { createBuild(input: { repo: "bund" }) { ... on BuildPayload { build { number } } } }');
  const n = created.body.data.createBuild.build.number as number;
  const ref = await k.pushTestApp(`${k.server.url}/api/v1/build/${n}`);
  await k.server.gql('mutation($n: Int!) { commitBuild(input: { build: $n }) { __typename } }', { n });
  for (;;) {
    const state = (await k.server.gql('query($n: Int!) { build(number: $n) { state } }', { n })).body.data.build.state;
    if (state === 'READY') break;
    assert.ok(['UPLOADING', 'COMMITTING', 'VALIDATING'].includes(state), state);
    await new Promise((r) => setTimeout(r, 100));
  }
  const file = path.join(work, 'hello.flatpak');
  const r = await fmdc(['build', 'bundle', String(n), '-o', file, '--url', proxyUrl, '--token', k.server.adminToken], { timeoutMs: 240_000 });
  assert.equal(r.code, 0, `stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.match(r.stderr, /making bundle \d+ of app\/org\.test\.Hello\//);
  assert.match(r.stdout, /flatpak build-bundle/, 'the bundle job log');
  assert.equal(cut, 1);
  assert.match(r.stderr, /resumed at byte \d+/);
  assert.match(r.stderr, /wrote .*hello\.flatpak/);

  // The file is the server's.
  const bundle = (await k.server.gql(`query($n: Int!) { build(number: $n) { bundles { ref url size } } }`, { n })).body.data.build.bundles[0];
  assert.equal(bundle.ref, ref);
  const served = Buffer.from(await (await fetch(`${k.server.url}${bundle.url}`)).arrayBuffer());
  const got = await readFile(file);
  assert.equal(got.length, bundle.size);
  assert.ok(got.equals(served), 'the downloaded bundle is the served one');

  // Made already: asked again, it downloads at once (no job to follow).
  const again = await fmdc(['build', 'bundle', String(n), '-o', path.join(work, 'again.flatpak'), '--url', k.server.url, '--token', k.server.adminToken]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /making bundle/);
  assert.ok((await readFile(path.join(work, 'again.flatpak'))).equals(served));
});

test('fmdc build bundle: an unknown build, a bad ref', { timeout: 120_000 }, async () => {
  const unknown = await fmdc(['build', 'bundle', '987654', '--url', k.server.url, '--token', k.server.adminToken]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /build 987654 not found/);
  const created = await k.server.gql('mutation { createBuild(input: { repo: "bund" }) { ... on BuildPayload { build { number } } } }');
  const n = created.body.data.createBuild.build.number as number;
  const badRef = await fmdc(['build', 'bundle', String(n), '--ref', 'not/a/ref', '--url', k.server.url, '--token', k.server.adminToken]);
  assert.notEqual(badRef.code, 0);
  assert.match(badRef.stderr, /only a committed \(ready\) build can be bundled|not an app or runtime ref/);
});
