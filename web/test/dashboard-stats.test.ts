// The dashboard's statistics in a real browser: a build whose commit fails shows in the apps
// table and among the top failure reasons, and a download of a published app (a real GET of its
// commit object from /repo/) shows in the downloads section, with the charts drawn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBrowser, waitForText } from './browser.ts';

const b = useBrowser();

const kitUrl = (file: string) => new URL(`../../server/test/kit/${file}`, import.meta.url).href;
const repoKit = (await import(kitUrl('repo-fixtures.ts'))) as {
  createSignedRepo(s: unknown, name: string): Promise<void>;
  publishTestApp(repoPath: string): Promise<{ app: { ref: string } }>;
};
const fmClient = (await import(kitUrl('flat-manager-client.ts'))) as {
  FlatManagerClient: new (url: string, token: string) => {
    createBuild(repo: string, appId?: string): Promise<{ id: number; url: string }>;
    startJob(buildUrl: string, what: 'commit'): Promise<{ url: string }>;
    waitForJob(jobUrl: string): Promise<{ job: { status: string } }>;
  };
};

test('the dashboard charts phases, lists apps and top failure reasons, and shows downloads per app', { timeout: 240_000 }, async () => {
  // The server object of the kit has the services (the web harness types only what pages need).
  const services = (b.server as unknown as { services: { repos: { repoPath(n: string): string; updateSummary(n: string): Promise<unknown> }; downloadStats: { flush(): Promise<void> } } }).services;
  await repoKit.createSignedRepo(b.server, 'stats');
  const published = await repoKit.publishTestApp(services.repos.repoPath('stats'));
  await services.repos.updateSummary('stats');

  // A build committed with nothing uploaded: its commit job fails.
  const fm = new fmClient.FlatManagerClient(b.server.url, b.server.adminToken);
  const build = await fm.createBuild('stats', 'org.test.Broken');
  const job = await fm.startJob(build.url, 'commit');
  await fm.waitForJob(job.url);
  const failed = await b.server.gql('query($n: Int!) { build(number: $n) { state stateReason } }', { n: build.id });
  assert.equal(failed.body.data.build.state, 'FAILED', JSON.stringify(failed.body));

  // A client fetches the app's commit: one install.
  const ref = published.app.ref;
  const summary = await b.server.gql(`{ repo(name: "stats") { refs(first: 20) { edges { node { name commit } } } } }`);
  const commit = summary.body.data.repo.refs.edges.map((e: any) => e.node).find((n: any) => n.name === ref)?.commit;
  assert.ok(commit, JSON.stringify(summary.body));
  const res = await fetch(`${b.server.url}/repo/stats/objects/${commit.slice(0, 2)}/${commit.slice(2)}.commit`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  await services.downloadStats.flush();

  const page = await b.newPage();
  await b.signIn(page, b.server.adminToken);
  const failures = page.getByRole('region', { name: 'Top failure reasons' });
  const reason = failed.body.data.build.stateReason.split('\n')[0].replace(/\d+/g, 'N');
  await waitForText(failures, new RegExp(reason.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 30_000);
  await failures.getByRole('link', { name: `#${build.id}` }).waitFor();
  const apps = page.getByRole('region', { name: 'Apps' });
  await waitForText(apps, /org\.test\.Broken\s*1\s*0 %/, 30_000);
  await page.getByRole('img', { name: /Median queue wait, build, commit and publish time per day/ }).waitFor();

  const downloads = page.getByRole('region', { name: 'Downloads' });
  const text = await waitForText(downloads, /org\.test\.Hello/, 30_000);
  assert.match(text, new RegExp(`org\\.test\\.Hello\\s*1\\s*0\\s*stats ${ref.split('/').slice(2).join('/')}: 1 \\+ 0`));
  await downloads.getByRole('img', { name: /Installs and updates per day/ }).waitFor();
  await b.screenshotAll(page, 'dashboard-stats');
});
