// The app catalog in a real browser: the test app, built with a composed metainfo (name, summary,
// icon, a release), pushed and published over flat-manager's REST API, shows in GraphQL `apps`
// and on the catalog page with its icon (the pixels the app shipped); search narrows the list;
// its page has the install lines, the .flatpakref link and its published build; a second release
// shows in its releases and its history of published builds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { useBrowser, waitForText } from './browser.ts';

type Metainfo = { name?: string; summary?: string; developer?: string; license?: string; icon?: [number, number, number]; releases?: Array<{ version: string; date: string; description?: string }>; screenshots?: Array<{ url: string; caption?: string }> };
type AppFixture = { repo: string; ref: string; commit: string };

const kitUrl = (file: string) => new URL(`../../server/test/kit/${file}`, import.meta.url).href;
const repoKit = (await import(kitUrl('repo-fixtures.ts'))) as {
  createSignedRepo(s: unknown, name: string, extra?: Record<string, unknown>): Promise<void>;
  publishOverRest(serverUrl: string, token: string, repo: string, srcRepo: string, refs: Record<string, string>, appId?: string): Promise<number>;
  buildCatalogApp(work: string, name: string, o: { appId?: string; metainfo: Metainfo }): Promise<AppFixture>;
};
const flatpakKit = (await import(kitUrl('flatpak-fixtures.ts'))) as { tempDir(prefix?: string): Promise<string> };

const b = useBrowser();
const APP_ID = 'org.test.Hello';
const v1: Metainfo = {
  name: 'Hello Catalog',
  summary: 'Says hello from the catalog',
  developer: 'The fmd team',
  license: 'MIT',
  icon: [200, 40, 40],
  // Not on this server: the page links it and loads nothing from elsewhere (the guard checks).
  screenshots: [{ url: 'https://screenshots.example.org/hello.png', caption: 'The greeting' }],
  releases: [{ version: '1.0', date: '2026-11-01', description: 'First release' }],
};

async function settled(page: Page): Promise<void> {
  await page.locator('.page-body:not([aria-busy])').waitFor();
}

/** The colour of the icon's middle pixel as the page drew it. */
async function iconPixel(page: Page, selector: string): Promise<number[]> {
  const img = page.locator(selector).first();
  await page.waitForFunction((el) => el instanceof HTMLImageElement && el.complete && el.naturalWidth > 0, await img.elementHandle());
  return img.evaluate((el) => {
    const i = el as HTMLImageElement;
    const c = document.createElement('canvas');
    c.width = i.naturalWidth;
    c.height = i.naturalHeight;
    const g = c.getContext('2d')!;
    g.drawImage(i, 0, 0);
    return [...g.getImageData(i.naturalWidth / 2, i.naturalHeight / 2, 1, 1).data.slice(0, 3)];
  });
}

test('a published app with a metainfo shows in apps and on the catalog page with its icon; a second release shows in its history', { timeout: 300_000 }, async (t) => {
  const work = await flatpakKit.tempDir('fmd-web-catalog-');
  await repoKit.createSignedRepo(b.server, 'catalog', { title: 'Catalog test' });
  const app1 = await repoKit.buildCatalogApp(work, 'v1', { metainfo: v1 });
  const build1 = await repoKit.publishOverRest(b.url, b.server.adminToken, 'catalog', app1.repo, { [app1.ref]: app1.commit }, APP_ID);

  // GraphQL `apps` lists it.
  const listed = await b.server.gql('{ apps(repo: "catalog") { id name summary iconUrl } }');
  assert.deepEqual(listed.body.data?.apps, [{ id: APP_ID, name: 'Hello Catalog', summary: 'Says hello from the catalog', iconUrl: `/api/catalog/catalog/icons/${APP_ID}.png` }], JSON.stringify(listed.body));

  const page = await b.newPage();
  await page.goto(`${b.url}/`);
  await b.signIn(page, b.server.adminToken);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor();
  await settled(page);
  const apps = page.getByRole('region', { name: 'Apps' });
  await waitForText(apps, /1 app in catalog/);
  await waitForText(apps, /Hello Catalog[\s\S]*Says hello from the catalog/);
  // The icon the app shipped, fetched with the token and drawn by the browser.
  assert.deepEqual(await iconPixel(page, '.app-card img.app-icon'), [200, 40, 40]);
  await b.screenshotAll(page, 'catalog');

  // Search, in the URL.
  await page.getByLabel('Search', { exact: true }).fill('zebra');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/\/catalog\?repo=catalog&q=zebra$/);
  await settled(page);
  await waitForText(page.getByRole('region', { name: 'Apps' }), /0 apps in catalog matching “zebra”[\s\S]*No app matches/);
  await b.screenshotAll(page, 'catalog-no-match');
  await page.getByLabel('Search', { exact: true }).fill('HELLO team');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=HELLO\+team$/);
  await settled(page);
  await waitForText(page.getByRole('region', { name: 'Apps' }), /1 app in catalog matching/);

  // The app's page.
  await page.getByRole('link', { name: 'Hello Catalog' }).click();
  await page.waitForURL(/\/catalog\/app\?repo=catalog&id=org\.test\.Hello$/);
  await page.getByRole('heading', { level: 1, name: 'App' }).waitFor();
  await settled(page);
  assert.deepEqual(await iconPixel(page, '.app-header img.app-icon'), [200, 40, 40]);
  await waitForText(page.getByRole('region', { name: 'App' }), /Hello Catalog[\s\S]*The fmd team[\s\S]*MIT/);
  const body = page.locator('.page-body');
  await waitForText(body, new RegExp(`flatpak remote-add --if-not-exists catalog ${b.url.replace(/[.:/]/g, '\\$&')}/repo/catalog\\.flatpakrepo`));
  await waitForText(body, new RegExp(`flatpak install catalog ${APP_ID.replace(/\./g, '\\.')}`));
  const ref = page.getByRole('link', { name: `${APP_ID}.flatpakref` });
  const href = await ref.getAttribute('href');
  assert.equal(href, `${b.url}/repo/catalog/appstream/${APP_ID}.flatpakref`);
  const served = await fetch(href!);
  assert.equal(served.status, 200);
  assert.match(await served.text(), /^\[Flatpak Ref\][\s\S]*Name=org\.test\.Hello/);
  await waitForText(body, /1\.0 2026-11-01[\s\S]*First release/);
  // External screenshots are links only.
  assert.equal(await page.getByRole('link', { name: 'The greeting' }).getAttribute('href'), 'https://screenshots.example.org/hello.png');
  await page.getByRole('link', { name: `#${build1}`, exact: true }).waitFor();
  await b.screenshotAll(page, 'catalog-app');

  // A second release, published: its page shows it, and both builds in its history.
  const app2 = await repoKit.buildCatalogApp(work, 'v2', { metainfo: { ...v1, icon: [40, 160, 40], releases: [{ version: '2.0', date: '2026-12-01', description: 'Second release' }, ...v1.releases!] } });
  const t0 = Date.now();
  const build2 = await repoKit.publishOverRest(b.url, b.server.adminToken, 'catalog', app2.repo, { [app2.ref]: app2.commit }, APP_ID);
  t.diagnostic(`second release pushed and published in ${Date.now() - t0} ms`);
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'App' }).waitFor();
  await settled(page);
  await waitForText(body, /2\.0 2026-12-01[\s\S]*Second release[\s\S]*1\.0 2026-11-01/);
  const history = page.getByRole('table').filter({ hasText: `#${build1}` });
  await waitForText(history, new RegExp(`#${build2}[\\s\\S]*#${build1}`));
  assert.deepEqual(await iconPixel(page, '.app-header img.app-icon'), [40, 160, 40]);
  await b.screenshotAll(page, 'catalog-app-v2');
});
