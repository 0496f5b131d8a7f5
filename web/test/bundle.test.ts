// The build page's "Download .flatpak" in a real browser: a committed upload build of the test
// app; the button asks for the bundle, waits while its job makes it, and saves the file the
// server serves, byte for byte (read with the same token, as the page does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { pollFor, useBrowser } from './browser.ts';

const kitUrl = (file: string) => new URL(`../../server/test/kit/${file}`, import.meta.url).href;
const repoKit = (await import(kitUrl('repo-fixtures.ts'))) as {
  createSignedRepo(s: unknown, name: string, extra?: Record<string, unknown>): Promise<void>;
  testBuilds(): Promise<{ appRepo: string; app: { ref: string; commit: string } }>;
};
const fmcKit = (await import(kitUrl('flat-manager-client.ts'))) as {
  FlatManagerClient: new (url: string, token: string) => { push(buildUrl: string, repo: string, refs: Record<string, string>): Promise<unknown> };
};

const b = useBrowser();

test('the build page downloads a committed build as a .flatpak bundle', { timeout: 240_000 }, async () => {
  await repoKit.createSignedRepo(b.server, 'webbundles');
  const { appRepo, app } = await repoKit.testBuilds();
  const created = await b.server.gql('mutation { createBuild(input: { repo: "webbundles" }) { ... on BuildPayload { build { number } } } }');
  const n = created.body.data.createBuild.build.number as number;
  await new fmcKit.FlatManagerClient(b.server.url, b.server.adminToken).push(`${b.server.url}/api/v1/build/${n}`, appRepo, { [app.ref]: app.commit });
  await b.server.gql('mutation($n: Int!) { commitBuild(input: { build: $n }) { __typename } }', { n });
  await pollFor(async () => (await b.server.gql('query($n: Int!) { build(number: $n) { state } }', { n })).body.data.build.state === 'READY', 120_000, 100);

  const page = await b.newPage();
  await page.goto(`${b.url}/builds/${n}`);
  await b.signIn(page, b.server.adminToken);
  const button = page.getByRole('button', { name: `Download ${app.ref} as a .flatpak bundle` });
  await button.waitFor();
  const downloading = page.waitForEvent('download', { timeout: 120_000 });
  await button.click();
  const download = await downloading;
  assert.equal(download.suggestedFilename(), 'org.test.Hello.flatpak');
  const saved = await readFile((await download.path())!);
  await page.getByRole('status').filter({ hasText: /Saved org\.test\.Hello\.flatpak/ }).waitFor();

  const bundle = (await b.server.gql('query($n: Int!) { build(number: $n) { bundles { url size } } }', { n })).body.data.build.bundles[0];
  const served = Buffer.from(await (await fetch(`${b.server.url}${bundle.url}`, { headers: { authorization: `Bearer ${b.server.adminToken}` } })).arrayBuffer());
  assert.equal(saved.length, bundle.size);
  assert.ok(saved.equals(served), 'the saved file is the served bundle');
  await b.screenshotAll(page, 'build-bundle');
});
