// The dashboard's acceptance flow in a real browser, through its pages only: sign in with the admin token, generate a
// signing key, create a repo signed by it, start a git build of the offline test app and watch
// its log arrive while it runs, publish it, find its ref on the repo page, and revoke the token
// in use, which sends the tab back to sign-in. Every page is photographed at desktop and phone
// width in light and dark, and the harness's guard fails the flow on any request to another
// host, page error or console error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { appRef, makeGitApp, useBrowser, waitForText } from './browser.ts';

const b = useBrowser({ gitBuilds: true });

/** Follows a link of the main navigation and waits for the page's heading. */
async function go(page: Page, link: string, heading: RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await settled(page);
}

/** The page body has rendered (the shell marks it busy while a page loads). */
async function settled(page: Page): Promise<void> {
  await page.locator('.page-body:not([aria-busy])').waitFor();
}

test('sign in, generate a key, create a repo, build from git with a live log, publish, see the ref, revoke the token in use', { timeout: 170_000 }, async () => {
  // The build sleeps between two lines so that the first one is seen in the page while it runs.
  const app = await makeGitApp({ appId: 'org.test.WebFlow', message: 'Hello from the dashboard flow', buildCommands: ['echo flow-build-started', 'sleep 6', 'echo flow-build-resumed'] });
  const page = await b.newPage();

  // Sign-in, then the dashboard.
  await page.goto(`${b.url}/`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav.isVisible(), false, 'no navigation before signing in');
  await b.screenshotAll(page, 'sign-in');
  await b.signIn(page, b.server.adminToken);
  await settled(page);
  await b.screenshotAll(page, 'dashboard');

  // A signing key, generated with the form on the Keys page; the key's own page follows.
  await go(page, 'Keys', /^Keys$/);
  await b.screenshotAll(page, 'keys-empty');
  const generate = page.getByRole('form', { name: 'Generate key' });
  await generate.getByLabel(/^Name/).fill('flow-key');
  await generate.getByRole('button', { name: 'Generate key' }).click();
  await page.getByRole('heading', { level: 1, name: 'Key flow-key' }).waitFor({ timeout: 60_000 });
  await settled(page);
  await b.screenshotAll(page, 'key');
  await go(page, 'Keys', /^Keys$/);
  await page.getByRole('link', { name: 'flow-key' }).waitFor();
  await b.screenshotAll(page, 'keys');

  // A repo signed with it.
  await go(page, 'Repos', /^Repos$/);
  await b.screenshotAll(page, 'repos-empty');
  await page.getByRole('link', { name: 'New repo' }).click();
  await page.getByRole('heading', { level: 1, name: 'New repo' }).waitFor();
  await settled(page);
  await page.getByLabel(/^Name/).fill('apps');
  // The key's option may say more than its name (its fingerprint too).
  const keySelect = page.getByLabel(/^Signing key/);
  await keySelect.selectOption((await keySelect.locator('option', { hasText: 'flow-key' }).getAttribute('value'))!);
  await b.screenshotAll(page, 'repo-new');
  await page.getByRole('button', { name: 'Create repo' }).click();
  await page.getByRole('heading', { level: 1, name: 'Repo apps' }).waitFor();
  await settled(page);
  await b.screenshotAll(page, 'repo-empty');
  await go(page, 'Repos', /^Repos$/);
  await page.getByRole('link', { name: 'apps', exact: true }).waitFor();
  await b.screenshotAll(page, 'repos');

  // A git build of the test app into it.
  await go(page, 'Builds', /^Builds$/);
  await page.getByRole('link', { name: 'New git build' }).click();
  await page.getByRole('heading', { level: 1, name: 'New git build' }).waitFor();
  await settled(page);
  await page.getByLabel('Git URL').fill(app.url);
  await page.getByLabel('Ref', { exact: true }).fill('main');
  await page.getByLabel('App ID').fill(app.appId);
  await page.getByLabel(/^Repo/).selectOption('apps');
  await b.screenshotAll(page, 'build-new');
  await page.getByRole('button', { name: 'Start build' }).click();
  await page.waitForURL(/\/builds\/\d+$/);
  const buildNumber = Number(new URL(page.url()).pathname.split('/').pop());
  assert.ok(buildNumber > 0);
  await settled(page);
  // The first line shows while the build still sleeps before the second: the log is live.
  const early = await waitForText(page.getByRole('log'), /flow-build-started/, 90_000);
  assert.doesNotMatch(early, /flow-build-resumed/, 'the log showed the first line only once the build had gone past it');
  await b.screenshotAll(page, 'build-running');

  // Publish once committed, on the same page.
  const publish = page.getByRole('button', { name: 'Publish', exact: true });
  await publish.waitFor({ timeout: 90_000 });
  await b.screenshotAll(page, 'build-committed');
  await publish.click();
  await waitForText(page.getByRole('region', { name: 'Build' }), /Published\s*published/, 90_000);
  await settled(page);
  await b.screenshotAll(page, 'build-published');

  // The whole log of the build's job, on the job's page.
  const buildJob = page.getByRole('region', { name: 'Source' }).getByRole('link', { name: /^#\d+$/ });
  await buildJob.click();
  await page.getByRole('heading', { level: 1, name: /^Job #\d+$/ }).waitFor();
  await settled(page);
  const full = await waitForText(page.getByRole('log'), /flow-build-resumed/, 30_000);
  assert.match(full, /Cloning file:\/\//);
  assert.ok(full.indexOf('flow-build-started') < full.indexOf('flow-build-resumed'));
  await b.screenshotAll(page, 'job');

  // The builds list, and the jobs the build ran.
  await go(page, 'Builds', /^Builds$/);
  await page.getByRole('link', { name: `#${buildNumber}`, exact: true }).first().waitFor();
  await b.screenshotAll(page, 'builds');
  await go(page, 'Jobs', /^Jobs$/);
  await b.screenshotAll(page, 'jobs');

  // The repo page lists the app's ref.
  const ref = await appRef(app.appId, 'master');
  await go(page, 'Repos', /^Repos$/);
  await page.getByRole('link', { name: 'apps', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Repo apps' }).waitFor();
  await settled(page);
  await page.getByRole('table').filter({ hasText: ref }).waitFor({ timeout: 60_000 });
  await b.screenshotAll(page, 'repo');

  // Revoking the token this tab uses ends the session: the page falls back to sign-in.
  await go(page, 'Tokens', /^Tokens$/);
  await b.screenshotAll(page, 'tokens');
  // The server refuses the token from now on: the browser logs the refused requests and socket.
  b.allowConsoleError(page, /401|403|Unauthorized|Forbidden|WebSocket/);
  page.once('dialog', (d) => void d.accept());
  await page.getByRole('button', { name: 'Revoke bootstrap admin token (this session)' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await waitForText(page.locator('#app'), /You revoked the token this session used/);
  assert.equal(await nav.isVisible(), false, 'the navigation went with the session');
  await b.screenshotAll(page, 'signed-out');
  // The tab forgot the token.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fmd.connection')), null);
});
