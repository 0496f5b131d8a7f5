// End to end, offline: build a runtime and an app, publish them into a repo
// with a collection id, sign commits and summary with openpgp.js, serve the
// repo over HTTP and prove a real flatpak client installs and runs the app —
// and refuses to when the key is wrong or a signature byte is flipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { generateSigningKey, exportPublicKey } from '../domain/keys/pgp.ts';
import { buildTestApp, buildTestRuntime, clientEnv, tempDir, APP_ID } from '../../test/kit/flatpak-fixtures.ts';
import { runTool, ToolError } from './exec.ts';
import { buildCommitFrom, buildUpdateRepo } from './flatpak.ts';
import * as ostree from './ostree.ts';
import { readGpgSignatures, sha256Hex, updateSummarySigned, writeCommitSignatures } from './signatures.ts';

const COLLECTION_ID = 'org.fmd.Test';

/** A static file server for this test only; records the paths clients asked for. */
async function serveDir(root: string): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(urlPath);
    const file = path.join(root, path.normalize(urlPath));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    stat(file).then(
      (st) => {
        if (!st.isFile()) return void res.writeHead(404).end();
        res.writeHead(200, { 'Content-Length': st.size });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/`, requests };
}

function flatpakrepo(url: string, gpgKeyBase64: string): string {
  return `[Flatpak Repo]\nTitle=fmd test\nUrl=${url}\nDeployCollectionID=${COLLECTION_ID}\nGPGKey=${gpgKeyBase64}\n`;
}

/** remote-add from a .flatpakrepo, install the app and run it, in a fresh isolated client. */
async function installAndRun(dir: string, repoFile: string): Promise<string> {
  const env = await clientEnv(dir);
  const file = path.join(dir, 'fmd.flatpakrepo');
  await writeFile(file, repoFile);
  await runTool('flatpak', ['--user', 'remote-add', '--from', 'fmd', file], { env, timeoutMs: 60_000 });
  await runTool('flatpak', ['--user', 'install', '-y', '--noninteractive', 'fmd', APP_ID], { env, timeoutMs: 120_000 });
  const { stdout } = await runTool('flatpak', ['--user', 'run', APP_ID], { env, timeoutMs: 60_000 });
  return stdout;
}

test('JS-signed commits and summary are accepted by ostree and a flatpak client', { timeout: 300_000 }, async (t) => {
  const started = Date.now();
  const work = await tempDir('fmd-signing-');
  t.after(() => rm(work, { recursive: true, force: true }));

  // Build: runtime + app into their own repos (as a build upload would be).
  const rtRepo = path.join(work, 'rt-repo');
  await buildTestRuntime(rtRepo, { workDir: path.join(work, 'rt-work') });
  const appRepo = path.join(work, 'app-repo');
  const app = await buildTestApp({ repo: appRepo, runtimeRepo: rtRepo, workDir: path.join(work, 'app-work') });

  // Publish into the main repo (collection id) as new commits.
  const main = path.join(work, 'main');
  await ostree.init(main, { mode: 'archive-z2', collectionId: COLLECTION_ID });
  const common = { untrusted: true, noUpdateSummary: true, disableFsync: true, timestamp: 'NOW' };
  await buildCommitFrom(main, { ...common, srcRepo: rtRepo });
  await buildCommitFrom(main, { ...common, srcRepo: appRepo, refs: [app.ref] });
  // Appstream first (it makes new commits), still without touching the summary.
  await buildUpdateRepo(main, { noUpdateSummary: true });

  const key = await generateSigningKey({ name: 'fmd test repo', email: 'repo@example.org' });
  const other = await generateSigningKey({ name: 'someone else' });

  // Sign every head, then make static deltas (deltas embed the commitmeta present now).
  const refs = await ostree.listRefs(main);
  assert.ok(refs.includes(app.ref));
  for (const ref of refs) await writeCommitSignatures(main, (await ostree.revParse(main, ref))!, [key.privateKey]);
  await buildUpdateRepo(main, { noUpdateSummary: true, noUpdateAppstream: true, generateStaticDeltas: true });

  // ostree itself verifies the JS-made commit signatures.
  const keyring = path.join(work, 'keyring');
  await runTool('mkdir', ['-p', keyring]);
  await writeFile(path.join(keyring, 'fmd.gpg'), exportPublicKey(key.privateKey).binary);
  const appCommit = (await ostree.revParse(main, app.ref))!;
  const shown = await ostree.show(main, appCommit, { gpgHomedir: keyring });
  assert.match(shown, /Found 1 signature/);
  assert.match(shown, /Good signature from "fmd test repo <repo@example\.org>"/);

  // Summary: generated in staging, installed signatures-first.
  const { indexSha } = await updateSummarySigned(main, [key.privateKey]);
  assert.ok(indexSha);
  assert.equal(sha256Hex(await readFile(path.join(main, 'summary.idx'))), indexSha);
  for (const f of ['summary.sig', 'summary.idx.sig', `summaries/${indexSha}.idx.sig`]) {
    assert.equal(readGpgSignatures(await readFile(path.join(main, f))).length, 1, f);
  }
  assert.ok(!existsSync(path.join(main, '.fmd-staging')), 'staging is cleaned up');
  assert.match(await ostree.summaryView(main), new RegExp(COLLECTION_ID.replaceAll('.', '\\.')));

  const http = await serveDir(main);
  t.after(() => new Promise<void>((r) => http.server.close(() => r())));
  const pub = exportPublicKey(key.privateKey).base64;

  // A client with the right key installs and runs the app, reading the content-addressed signature.
  const out = await installAndRun(path.join(work, 'client-ok'), flatpakrepo(http.url, pub));
  assert.match(out, new RegExp(app.message));
  assert.ok(http.requests.includes(`/summaries/${indexSha}.idx.sig`), 'the client fetched summaries/<sha>.idx.sig');

  // A client configured with another key refuses the repo.
  await assert.rejects(
    installAndRun(path.join(work, 'client-wrong-key'), flatpakrepo(http.url, exportPublicKey(other.privateKey).base64)),
    (err: unknown) => {
      t.diagnostic(`wrong key: ${JSON.stringify(err instanceof ToolError ? err.stderrTail : String(err))}`);
      return err instanceof ToolError && /public key not found/.test(err.stderr);
    },
  );

  // One flipped byte in the index signature makes install fail.
  const sigPath = path.join(main, 'summaries', `${indexSha}.idx.sig`);
  const good = await readFile(sigPath);
  const bad = Buffer.from(good);
  // Inside the EdDSA signature value near the end of the one signature (which starts at offset 16,
  // after "ostree.gpgsigs\0" and padding to the variant's 8-byte alignment).
  const sigLen = readGpgSignatures(good)[0]!.length;
  bad[16 + sigLen - 5]! ^= 0x01;
  await writeFile(sigPath, bad);
  await assert.rejects(
    installAndRun(path.join(work, 'client-flipped'), flatpakrepo(http.url, pub)),
    (err: unknown) => {
      t.diagnostic(`flipped byte: ${JSON.stringify(err instanceof ToolError ? err.stderrTail : String(err))}`);
      return err instanceof ToolError && /BAD signature/.test(err.stderr);
    },
  );
  await writeFile(sigPath, good);

  // A second generation keeps the previous generation's signature for clients that read the old index.
  await buildCommitFrom(main, { ...common, force: true, srcRepo: appRepo, refs: [app.ref] });
  const newHead = (await ostree.revParse(main, app.ref))!;
  assert.notEqual(newHead, appCommit);
  await writeCommitSignatures(main, newHead, [key.privateKey]);
  const second = await updateSummarySigned(main, [key.privateKey]);
  assert.notEqual(second.indexSha, indexSha);
  const sigs = (await readdir(path.join(main, 'summaries'))).filter((f) => f.endsWith('.idx.sig'));
  assert.ok(sigs.includes(`${indexSha}.idx.sig`) && sigs.includes(`${second.indexSha}.idx.sig`));
  const env = await clientEnv(path.join(work, 'client-ok'));
  await runTool('flatpak', ['--user', 'update', '-y', '--noninteractive'], { env, timeoutMs: 120_000 });
  const { stdout: info } = await runTool('flatpak', ['--user', 'info', '--show-commit', APP_ID], { env });
  assert.equal(info.trim(), newHead);

  t.diagnostic(`integration test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
