// The SDK as the web client ships it: bundled by vite for browsers (graphql, graphql-ws and the
// generated operations in one module), then used against a real server over fetch and the
// WebSocket global, which Node 24 has as browsers do.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';
import { startTestServer, type TestServer } from '../../sdk/test/server.ts';

type Sdk = typeof import('@fmd/sdk');

const webDir = fileURLToPath(new URL('..', import.meta.url));
let server: TestServer;
let outDir: string;
before(async () => {
  server = await startTestServer();
  outDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-web-sdk-'));
});
after(async () => {
  await server?.stop();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

test('the SDK bundled by vite for the browser works against a real server', { timeout: 120_000 }, async () => {
  // The module web/src imports, resolved from web/ as the app's build resolves it (the entry is
  // made up, in web/, for that resolution).
  const entry = path.join(webDir, 'fmd-sdk-entry.js');
  await build({
    root: webDir,
    configFile: false,
    logLevel: 'silent',
    plugins: [{ name: 'fmd-sdk-entry', resolveId: (id) => (id === entry ? id : null), load: (id) => (id === entry ? "export * from '@fmd/sdk';" : null) }],
    build: { outDir, emptyOutDir: true, minify: true, lib: { entry, formats: ['es'], fileName: 'sdk' } },
  });
  const sdk = (await import(pathToFileURL(path.join(outDir, 'sdk.js')).href)) as Sdk;

  const client = sdk.createFmdClient({ url: server.url, token: server.adminToken });
  assert.ok((await client.viewer()).viewer.scopes.includes('admin'));
  const repo = (await client.createRepo({ input: { name: 'web' } })).createRepo;
  assert.equal(repo.__typename, 'RepoPayload', JSON.stringify(repo));
  const created = (await client.createBuild({ input: { repo: 'web' } })).createBuild;
  assert.ok(sdk.isResult(created, 'BuildPayload'), JSON.stringify(created));
  for await (const event of client.buildUpdated({ number: created.build.number })) {
    assert.equal(event.buildUpdated.state, sdk.BuildState.Uploading);
    break;
  }
  await client.close();
});
