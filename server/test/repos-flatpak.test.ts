// The acceptance tests of repos and keys with real clients: a stock flatpak client adds an fmd
// repo from its .flatpakrepo URL and installs and runs an app with GPG verification on; a
// wrong key or a flipped signature byte makes it fail; ostree reports good signatures; a key
// rotation overlap serves old-key-only and new-key-only clients; and summary updates are never
// visible unsigned to a client reading summary.idx and then summaries/<sha>.idx.sig.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { jobEnded, startTestServer, type TestServer } from './kit/server.ts';
import { installAndRun, publishTestApp, testBuilds } from './kit/repo-fixtures.ts';
import { tempDir } from './kit/flatpak-fixtures.ts';
import { runTool, ToolError } from '../src/ostree/exec.ts';
import * as ostree from '../src/ostree/ostree.ts';
import { readGpgSignatures, sha256Hex } from '../src/ostree/signatures.ts';

let s: TestServer;
let work: string;
before(async () => {
  s = await startTestServer();
  work = await tempDir('fmd-repos-flatpak-');
  await testBuilds();
});
after(async () => {
  await s.stop();
  await rm(work, { recursive: true, force: true });
});

async function generateKey(name: string): Promise<{ id: string; publicKeyBase64: string; publicKeyArmored: string }> {
  const r = await s.gql(`mutation($n: String!) { generateKey(input: { name: $n, email: "repo@example.org" }) { ... on KeyPayload { key { id publicKeyBase64 publicKeyArmored } } } }`, { n: name });
  return r.body.data.generateKey.key;
}

async function createRepo(input: Record<string, unknown>): Promise<void> {
  const r = await s.gql(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, { input });
  assert.equal(r.body.data?.createRepo.__typename, 'RepoPayload', JSON.stringify(r.body));
}

function failsWith(pattern: RegExp, t: { diagnostic(m: string): void }) {
  return (err: unknown) => {
    t.diagnostic(`client failed as expected: ${err instanceof ToolError ? err.stderrTail : String(err)}`);
    return err instanceof ToolError && pattern.test(err.stderr);
  };
}

/** A .flatpakrepo from fmd with its GPGKey replaced. */
async function flatpakrepoWithKey(name: string, base64: string): Promise<string> {
  const text = await (await fetch(`${s.url}/repo/${name}.flatpakrepo`)).text();
  return text.replace(/^GPGKey=.*$/m, `GPGKey=${base64}`);
}

test('flatpak remote-add --from <fmd>/repo/<name>.flatpakrepo, install and run, GPG-verified; another key and a flipped byte fail', { timeout: 600_000 }, async (t) => {
  const started = Date.now();
  const key = await generateKey('main key');
  const other = await generateKey('not the repo key');
  await createRepo({ name: 'main', collectionId: 'org.fmd.Main', keyId: key.id, title: 'fmd main' });
  const dir = s.services.repos.repoPath('main');
  const b = await publishTestApp(dir);
  const { indexSha, signedCommits } = await s.services.repos.updateSummary('main');
  assert.ok(indexSha && signedCommits.length >= 3);

  // ostree itself reports the JS signatures as good: on a commit, and on the summary a remote serves.
  const keyring = path.join(work, 'keyring');
  await mkdir(keyring, { recursive: true });
  const pubFile = path.join(keyring, 'main.gpg');
  await writeFile(pubFile, Buffer.from(key.publicKeyBase64, 'base64'));
  const appCommit = (await ostree.revParse(dir, b.app.ref))!;
  assert.match(await ostree.show(dir, appCommit, { gpgHomedir: keyring }), /Good signature from "main key <repo@example\.org>"/);
  const client = path.join(work, 'ostree-client');
  await ostree.init(client, { mode: 'bare-user' });
  await runTool('ostree', ['remote', 'add', `--repo=${client}`, `--gpg-import=${pubFile}`, '--set=gpg-verify-summary=true', '--collection-id=org.fmd.Main', 'fmd', `${s.url}/repo/main/`]);
  const { stdout: remoteSummary } = await runTool('ostree', ['remote', 'summary', `--repo=${client}`, 'fmd']);
  assert.match(remoteSummary, /Good signature from "main key <repo@example\.org>"/);
  assert.match(remoteSummary, /app\/org\.test\.Hello/);

  // The real client, from the URL fmd serves.
  const out = await installAndRun(path.join(work, 'client-ok'), { url: `${s.url}/repo/main.flatpakrepo` });
  assert.match(out, new RegExp(b.app.message));

  // Another key in the .flatpakrepo: refused.
  await assert.rejects(
    installAndRun(path.join(work, 'client-wrong-key'), { file: await flatpakrepoWithKey('main', other.publicKeyBase64) }),
    failsWith(/public key not found|GPG signatures found, but none are in trusted keyring/, t),
  );

  // One flipped byte inside the signature the client reads: refused.
  const sigPath = path.join(dir, 'summaries', `${indexSha}.idx.sig`);
  const good = await readFile(sigPath);
  const bad = Buffer.from(good);
  bad[16 + readGpgSignatures(good)[0]!.length - 5]! ^= 0x01;
  await writeFile(sigPath, bad);
  try {
    await assert.rejects(installAndRun(path.join(work, 'client-flipped'), { url: `${s.url}/repo/main.flatpakrepo` }), failsWith(/BAD signature/, t));
  } finally {
    await writeFile(sigPath, good);
  }
  t.diagnostic(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('key rotation: during the overlap old-key-only and new-key-only clients both install; after it only the new key works', { timeout: 600_000 }, async (t) => {
  const started = Date.now();
  const oldKey = await generateKey('rotation old');
  const newKey = await generateKey('rotation new');
  await createRepo({ name: 'rotating', collectionId: 'org.fmd.Rotating', keyId: oldKey.id });
  const dir = s.services.repos.repoPath('rotating');
  const b = await publishTestApp(dir);
  await s.services.repos.updateSummary('rotating');
  const deltasBefore = (await runTool('ostree', ['static-delta', 'list', `--repo=${dir}`])).stdout;
  assert.match(deltasBefore, /[0-9a-f]{64}/, 'deltas exist (and embed old-key-only signatures)');

  const r = await s.gql(
    `mutation($input: SetRepoKeyInput!) { setRepoKey(input: $input) { __typename ... on RepoPayload { repo { key { id } previousKey { id } previousKeyUntil } job { number kind } } ... on Error { message } } }`,
    { input: { repo: 'rotating', keyId: newKey.id, overlapSeconds: 3600 } },
  );
  assert.equal(r.body.data.setRepoKey.repo.previousKey.id, oldKey.id);
  assert.equal(r.body.data.setRepoKey.job.kind, 'update-repo');
  await jobEnded(s, r.body.data.setRepoKey.job.number);
  const appCommit = (await ostree.revParse(dir, b.app.ref))!;
  const meta = await readFile(path.join(dir, 'objects', appCommit.slice(0, 2), `${appCommit.slice(2)}.commitmeta`));
  assert.equal(readGpgSignatures(meta).length, 2, 'the commit carries both signatures');
  const idx = await readFile(path.join(dir, 'summary.idx'));
  assert.equal(readGpgSignatures(await readFile(path.join(dir, 'summaries', `${sha256Hex(idx)}.idx.sig`))).length, 2, 'so does the summary index');

  // The .flatpakrepo now hands out the new key.
  const served = await (await fetch(`${s.url}/repo/rotating.flatpakrepo`)).text();
  assert.match(served, new RegExp(`^GPGKey=${newKey.publicKeyBase64.replace(/[+/]/g, '\\$&')}$`, 'm'));
  const [oldOut, newOut] = await Promise.all([
    installAndRun(path.join(work, 'rot-old'), { file: await flatpakrepoWithKey('rotating', oldKey.publicKeyBase64) }),
    installAndRun(path.join(work, 'rot-new'), { url: `${s.url}/repo/rotating.flatpakrepo` }),
  ]);
  assert.match(oldOut, new RegExp(b.app.message));
  assert.match(newOut, new RegExp(b.app.message));

  // The overlap ends: the summary is signed by the new key only, and old-key-only clients stop verifying.
  await s.services.prisma.repo.update({ where: { name: 'rotating' }, data: { previousKeyUntil: new Date(Date.now() - 1000) } });
  await s.services.repos.updateSummary('rotating');
  const idx2 = await readFile(path.join(dir, 'summary.idx'));
  assert.equal(readGpgSignatures(await readFile(path.join(dir, 'summaries', `${sha256Hex(idx2)}.idx.sig`))).length, 1);
  await assert.rejects(
    installAndRun(path.join(work, 'rot-old-late'), { file: await flatpakrepoWithKey('rotating', oldKey.publicKeyBase64) }),
    failsWith(/public key not found|none are in trusted keyring/, t),
  );
  t.diagnostic(`took ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('atomicity: readers of summary.idx then summaries/<sha>.idx.sig never see a missing or mismatched signature while the summary is updated repeatedly', { timeout: 300_000 }, async (t) => {
  const key = await generateKey('atomic key');
  await createRepo({ name: 'atomic', collectionId: 'org.fmd.Atomic', keyId: key.id, deltaSettings: { generate: false } });
  await publishTestApp(s.services.repos.repoPath('atomic'));
  await s.services.repos.updateSummary('atomic');
  const verificationKeys = await openpgp.readKey({ armoredKey: key.publicKeyArmored });

  let stop = false;
  let checked = 0;
  const problems: string[] = [];
  const seen = new Set<string>();
  async function reader(): Promise<void> {
    while (!stop) {
      const idx = new Uint8Array(await (await fetch(`${s.url}/repo/atomic/summary.idx`)).arrayBuffer());
      const sha = sha256Hex(idx);
      seen.add(sha);
      const res = await fetch(`${s.url}/repo/atomic/summaries/${sha}.idx.sig`);
      if (res.status !== 200) {
        problems.push(`${sha}: signature answered ${res.status}`);
        continue;
      }
      const sigs = readGpgSignatures(new Uint8Array(await res.arrayBuffer()));
      const message = await openpgp.createMessage({ binary: idx });
      const results = await Promise.all(
        sigs.map(async (sig) => {
          const v = await openpgp.verify({ message, signature: await openpgp.readSignature({ binarySignature: sig }), verificationKeys });
          return v.signatures[0]!.verified.then(() => true, () => false);
        }),
      );
      if (!results.some(Boolean)) problems.push(`${sha}: no valid signature`);
      checked++;
    }
  }
  const readers = Array.from({ length: 4 }, () => reader());
  const updates = 12;
  for (let i = 0; i < updates; i++) {
    // A new title changes the summary metadata, hence summary.idx, on every round.
    const { job } = await s.services.repos.update('atomic', { title: `round ${i}` });
    await jobEnded(s, job!.id);
  }
  stop = true;
  await Promise.all(readers);
  t.diagnostic(`${checked} verified reads across ${seen.size} summary generations, ${updates} updates`);
  assert.deepEqual(problems, []);
  assert.ok(seen.size >= 5, `readers saw ${seen.size} generations`);
  assert.ok(checked > 50);
});
