// What the dashboard shows a token that may do little, and how sign-in treats a failed attempt:
// in a real browser, through the pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { useBrowser } from './browser.ts';

const b = useBrowser();

async function token(scopes: string[]): Promise<string> {
  const r = await b.server.gql('mutation($input: CreateTokenInput!) { createToken(input: $input) { ... on CreateTokenPayload { token } ... on Error { message } } }', {
    input: { name: `narrow ${scopes.join(' ')}`, scopes, durationSeconds: 3600 },
  });
  const t = r.body.data?.createToken?.token;
  assert.ok(t, JSON.stringify(r.body));
  return t;
}

test('a failed sign-in says why and keeps what was typed, so a retry goes to the same server', { timeout: 90_000 }, async () => {
  const page = await b.newPage();
  b.allowConsoleError(page, /401|Unauthorized|ERR_CONNECTION_REFUSED|Failed to load resource/);
  await page.goto(`${b.url}/`);
  await page.getByLabel('API token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: /rejected the token/ }).waitFor();
  assert.equal(await page.getByLabel('API token').inputValue(), 'not-a-token');

  // another server that is not there: the URL stays, its section stays open
  await page.getByText('Another server').click();
  const dead = 'http://127.0.0.1:9/';
  await page.getByLabel('Server URL').fill(dead);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: /Cannot reach http:\/\/127\.0\.0\.1:9/ }).waitFor();
  assert.equal(await page.getByLabel('Server URL').inputValue(), dead);
  assert.equal(await page.getByLabel('Server URL').isVisible(), true, '"Another server" stays open');
  await b.screenshot(page, 'sign-in-failed');

  // a server the page's Content-Security-Policy does not allow (not in web-connect-origins): said so
  b.allowConsoleError(page, /Content Security Policy|CSP violation/);
  await page.getByLabel('Server URL').fill('http://127.0.0.1:10/');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: /may not connect to http:\/\/127\.0\.0\.1:10 \(its Content-Security-Policy\).*web-connect-origins/ }).waitFor();
});

test('a token sees the sections it may read: no builds for a jobs token, no jobs for a download token, no build form without the build scope', { timeout: 90_000 }, async () => {
  const jobsOnly = await b.newPage();
  await b.signIn(jobsOnly, await token(['jobs']));
  const nav = jobsOnly.getByRole('navigation', { name: 'Main' });
  await jobsOnly.getByRole('region', { name: 'Running jobs' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Builds', exact: true }).count(), 0);
  assert.equal(await nav.getByRole('link', { name: 'Jobs', exact: true }).count(), 1);
  assert.equal(await jobsOnly.getByRole('region', { name: 'Build figures' }).count(), 0);
  assert.equal(await jobsOnly.getByRole('alert').count(), 0, 'nothing refused on the dashboard');
  await b.screenshotAll(jobsOnly, 'dashboard-jobs-token');
  await jobsOnly.goto(`${b.url}/builds/new`);
  await jobsOnly.getByText(/Starting builds needs a token with the build scope/).waitFor();
  assert.equal(await jobsOnly.getByRole('button', { name: 'Start build' }).count(), 0);

  const downloadOnly = await b.newPage();
  await b.signIn(downloadOnly, await token(['download']));
  await downloadOnly.getByRole('region', { name: 'Build figures' }).waitFor();
  const nav2 = downloadOnly.getByRole('navigation', { name: 'Main' });
  assert.equal(await nav2.getByRole('link', { name: 'Jobs', exact: true }).count(), 0);
  assert.equal(await downloadOnly.getByRole('region', { name: 'Running jobs' }).count(), 0);
  await downloadOnly.getByRole('link', { name: 'Builds', exact: true }).first().click();
  await downloadOnly.getByRole('heading', { level: 1, name: 'Builds' }).waitFor();
  assert.equal(await downloadOnly.getByRole('link', { name: 'New git build' }).count(), 0);
});

test('the audit log is an admin page: listed for admins, filters and pages in the URL; other tokens are not shown it', { timeout: 90_000 }, async () => {
  const narrow = await token(['build']); // a createToken: recorded
  await b.server.gql('mutation { deleteRepo(input: { name: "no-such-repo" }) { __typename } }'); // a typed error: recorded
  const admin = await b.newPage();
  await b.signIn(admin, b.server.adminToken);
  const nav = admin.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Audit', exact: true }).click();
  await admin.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  await admin.getByRole('cell', { name: 'name=no-such-repo' }).waitFor();
  await admin.getByLabel('Result').fill('not-found');
  await admin.getByRole('button', { name: 'Filter' }).click();
  await admin.waitForURL(/\/audit\?result=not-found$/);
  await admin.getByText('1 entry').waitFor();
  assert.equal(await admin.getByRole('cell', { name: /createToken/ }).count(), 0);
  await b.screenshotAll(admin, 'audit-log');

  const builder = await b.newPage();
  await b.signIn(builder, narrow);
  const nav2 = builder.getByRole('navigation', { name: 'Main' });
  await nav2.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
  assert.equal(await nav2.getByRole('link', { name: 'Audit', exact: true }).count(), 0);
  await builder.goto(`${b.url}/audit`);
  await builder.getByText('The audit log is for tokens with the admin scope.').waitFor();
  assert.equal(await builder.getByRole('alert').count(), 0, 'nothing refused');
});

test('webhooks are an admin page: create (secret shown once), test with its delivery log, disable, delete asked inline', { timeout: 90_000 }, async () => {
  const received: string[] = [];
  const receiver = http.createServer((req, res) => {
    received.push(String(req.headers['x-fmd-event']));
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
    const admin = await b.newPage();
    await b.signIn(admin, b.server.adminToken);
    await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks', exact: true }).click();
    await admin.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await admin.getByText('No webhooks yet. Create one below.').waitFor();

    // A bad URL is refused next to its field.
    await admin.getByLabel('URL').fill('ftp://example.org/x');
    await admin.getByLabel('build.published').check();
    await admin.getByRole('button', { name: 'Create webhook' }).click();
    await admin.getByRole('alert').filter({ hasText: /http or https/ }).waitFor();

    await admin.getByLabel('URL').fill(hookUrl);
    await admin.getByRole('button', { name: 'Create webhook' }).click();
    const secret = await admin.getByLabel('Secret', { exact: true }).first().inputValue();
    assert.match(secret, /^[0-9a-f]{64}$/);
    await admin.getByText('Copy its secret now: it will not be shown again.').waitFor();
    await admin.getByRole('cell', { name: hookUrl }).waitFor();

    await admin.getByRole('button', { name: /^Test webhook/ }).click();
    await admin.waitForURL(/\/webhooks\?hook=\d+$/);
    await admin.getByRole('heading', { name: /Deliveries of #\d+/ }).waitFor();
    for (let i = 0; i < 100 && !(await admin.getByRole('cell', { name: 'succeeded' }).count()); i++) {
      await admin.getByRole('button', { name: 'Refresh' }).click();
      await admin.waitForTimeout(200);
    }
    await admin.getByRole('cell', { name: 'succeeded' }).waitFor();
    assert.deepEqual(received, ['ping']);
    await b.screenshotAll(admin, 'webhooks');

    await admin.getByRole('button', { name: /^Disable webhook/ }).click();
    await admin.getByRole('button', { name: /^Enable webhook/ }).waitFor();
    await admin.getByRole('button', { name: /^Delete webhook/ }).click();
    await admin.getByRole('button', { name: 'Yes, delete' }).click();
    await admin.getByText('No webhooks yet. Create one below.').waitFor();

    const builder = await b.newPage();
    await b.signIn(builder, await token(['build']));
    await builder.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs', exact: true }).waitFor();
    assert.equal(await builder.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks', exact: true }).count(), 0);
    await builder.goto(`${b.url}/webhooks`);
    await builder.getByText('Webhooks are for tokens with the admin scope.').waitFor();
  } finally {
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
});
