// `fmdc app list|show` as child processes against a test-kit server holding the kit's test app
// (org.test.Hello, published over flat-manager's REST API so its appstream is in the repo).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fmdc as runFmdc, type Run } from '../test/fmdc.ts';

const kit = (path: string) => import(new URL(`../../server/test/kit/${path}`, import.meta.url).href);

describe('fmdc app', () => {
  let server: { url: string; adminToken: string; stop(): Promise<void> };
  let env: Record<string, string>;
  let buildId: number;
  const fmdc = (args: string[]): Promise<Run> => runFmdc(args, { env });
  before(async () => {
    const [{ startTestServer }, repos] = await Promise.all([kit('server.ts'), kit('repo-fixtures.ts')]);
    const b = await repos.testBuilds();
    server = await startTestServer({ 'delay-update-secs': 0 });
    await repos.createSignedRepo(server, 'cliapps');
    buildId = await repos.publishOverRest(server.url, server.adminToken, 'cliapps', b.appRepo, { [b.app.ref]: b.app.commit }, 'org.test.Hello');
    env = { FMDC_URL: server.url, FMDC_TOKEN: server.adminToken };
  });
  after(async () => {
    await server?.stop();
  });

  test('list (with --search) and show an app; an unknown repo or app fails clearly', async () => {
    const listed = await fmdc(['app', 'list', 'cliapps']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID\s+NAME\s+SUMMARY/m);
    assert.match(listed.stdout, /^org\.test\.Hello\s+Hello\s+fmd test app/m);
    const json = await fmdc(['app', 'list', 'cliapps', '--search', 'hello', '--json']);
    assert.deepEqual(JSON.parse(json.stdout).map((a: { id: string }) => a.id), ['org.test.Hello']);
    const none = await fmdc(['app', 'list', 'cliapps', '--search', 'zebra']);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /no app matches/);

    const shown = await fmdc(['app', 'show', 'cliapps', 'org.test.Hello']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /install:\s+flatpak install cliapps org\.test\.Hello/);
    assert.match(shown.stdout, new RegExp(`\\.flatpakref:\\s+${server.url.replace(/[.:/]/g, '\\$&')}/repo/cliapps/appstream/org\\.test\\.Hello\\.flatpakref`));
    assert.match(shown.stdout, /app\/org\.test\.Hello\/[^/\s]+\/stable\s+[0-9a-f]{12}/);
    assert.match(shown.stdout, new RegExp(`^#${buildId}\\s+READY\\s+PUBLISHED`, 'm'));
    const shownJson = JSON.parse((await fmdc(['app', 'show', 'cliapps', 'org.test.Hello', '--json'])).stdout);
    assert.equal(shownJson.refs[0].branch, 'stable');
    assert.ok(shownJson.refs[0].installedSize > 0);

    const noRepo = await fmdc(['app', 'list', 'no-such-repo']);
    assert.equal(noRepo.code, 1, noRepo.stderr);
    assert.match(noRepo.stderr, /no repo "no-such-repo"/);
    const noApp = await fmdc(['app', 'show', 'cliapps', 'org.test.Nope']);
    assert.equal(noApp.code, 1, noApp.stderr);
    assert.match(noApp.stderr, /no app "org\.test\.Nope" in repo "cliapps"/);
    const badId = await fmdc(['app', 'show', 'cliapps', 'not an id']);
    assert.equal(badId.code, 1, badId.stderr);
    assert.match(badId.stderr, /not an app id/);
    const longSearch = await fmdc(['app', 'list', 'cliapps', '--search', 'x'.repeat(300)]);
    assert.equal(longSearch.code, 1, longSearch.stderr);
    assert.match(longSearch.stderr, /search: at most 200 characters/);
  });
});
