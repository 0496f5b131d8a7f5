// The GraphQL playground in a real browser: signed in on the dashboard, /playground shows GraphiQL
// with the dashboard's token in its headers, runs a query over HTTP and a subscription over
// graphql-ws (an event caused from outside the page shows up in its result pane), and opens the
// schema docs, loading nothing from another host (the harness's guard fails the test otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { pollFor, useBrowser, waitForText } from './browser.ts';

const b = useBrowser();

/** Replaces the query editor's text as a user pasting it would (GraphiQL's editor closes brackets as they are typed one by one). */
async function typeQuery(page: Page, query: string): Promise<void> {
  const editor = page.locator('section[aria-label="Query Editor"] .CodeMirror');
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(query);
  // What the editor holds now, as CodeMirror has it (not only the lines it happens to render).
  const text = await editor.evaluate((el) => (el as HTMLElement & { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
  assert.equal(text, query);
  // GraphiQL parses the text 100 ms after the last change, and runs what it parsed last: a
  // subscription run before that would go over HTTP as the query before it.
  await editor.evaluate(
    (el, q) =>
      new Promise<void>((resolve) => {
        const cm = (el as HTMLElement & { CodeMirror: { documentAST?: { loc?: { source: { body: string } } } | null } }).CodeMirror;
        const check = () => (cm.documentAST?.loc?.source.body === q ? resolve() : setTimeout(check, 20));
        check();
      }),
    query,
  );
}

/** The result pane's whole text. */
function result(page: Page): Promise<string> {
  return page.locator('.graphiql-response .CodeMirror').evaluate((el) => (el as HTMLElement & { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
}

async function resultMatching(page: Page, pattern: RegExp, timeoutMs = 30_000): Promise<unknown> {
  let last = '';
  try {
    await pollFor(async () => pattern.test((last = await result(page).catch(() => last))), timeoutMs, 100);
  } catch {
    assert.fail(`the result pane did not show ${pattern} within ${timeoutMs} ms; it showed:\n${last}`);
  }
  return JSON.parse(last);
}

test('the playground, signed in from the dashboard, runs a query and a subscription and shows the schema docs', { timeout: 150_000 }, async () => {
  const page = await b.newPage();
  const localRequests: string[] = [];
  page.on('request', (r) => localRequests.push(new URL(r.url()).pathname));
  await b.signIn(page, b.server.adminToken);
  // The dashboard's link, in the same tab: the session (sessionStorage) comes along.
  await page.getByRole('link', { name: 'Playground' }).click();
  await page.waitForURL(/\/playground$/);
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).waitFor();
  await page.locator('section[aria-label="Query Editor"] .CodeMirror').waitFor();
  // GraphiQL, its styles and fonts came from fmd, bundled (the guard saw no other host).
  assert.ok(localRequests.some((p) => /^\/assets\/playground-.*\.js$/.test(p)), localRequests.join('\n'));
  await b.screenshotAll(page, 'playground');

  // The headers editor holds the dashboard's token.
  await page.getByRole('button', { name: 'Headers' }).click();
  const headers = await page
    .locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror')
    .evaluate((el) => (el as HTMLElement & { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
  assert.deepEqual(JSON.parse(headers), { authorization: `Bearer ${b.server.adminToken}` });

  // A query over HTTP, with the token from the headers.
  await typeQuery(page, '{ viewer { scopes } }');
  const posted = page.waitForRequest((r) => r.url() === `${b.url}/graphql` && r.method() === 'POST' && (r.postData() ?? '').includes('viewer'));
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).click();
  assert.equal((await posted).headers().authorization, `Bearer ${b.server.adminToken}`);
  const answer = (await resultMatching(page, /"scopes"/)) as { data: { viewer: { scopes: string[] } } };
  assert.ok(answer.data.viewer.scopes.includes('admin'), JSON.stringify(answer));
  await b.screenshotAll(page, 'playground-query');

  // A subscription over graphql-ws; an event is caused from outside (a token created over HTTP).
  const subscribed = new Promise<void>((resolve) =>
    page.on('websocket', (ws) => {
      assert.equal(ws.url(), `${b.url.replace(/^http/, 'ws')}/graphql`);
      ws.on('framesent', (f) => {
        if (typeof f.payload === 'string' && f.payload.includes('"subscribe"') && f.payload.includes('tokensChanged')) resolve();
      });
    }),
  );
  await typeQuery(page, 'subscription { tokensChanged { kind tokenIds } }');
  await page.keyboard.press('ControlOrMeta+Enter');
  await subscribed;
  await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).waitFor();
  // The server may take a moment to start the subscription after the frame left the browser:
  // a token is created until an event shows (each one is announced).
  const created: string[] = [];
  const event = (await pollFor(async () => {
    const r = await b.server.gql(`mutation($name: String!) { createToken(input: { name: $name, scopes: ["build"], durationSeconds: 600 }) { ... on CreateTokenPayload { apiToken { tokenId } } } }`, { name: `playground ${created.length}` });
    created.push(r.body.data.createToken.apiToken.tokenId);
    try {
      return await resultMatching(page, /"CREATED"/, 3000);
    } catch {
      return null;
    }
  }, 60_000, 0)) as { data: { tokensChanged: { kind: string; tokenIds: string[] } } };
  assert.equal(event.data.tokensChanged.kind, 'CREATED');
  assert.ok(created.includes(event.data.tokensChanged.tokenIds[0]!), JSON.stringify(event));
  await b.screenshotAll(page, 'playground-subscription');
  await page.getByRole('button', { name: 'Stop query (Ctrl-Enter)' }).click();
  await page.getByRole('button', { name: 'Execute query (Ctrl-Enter)' }).waitFor();

  // The schema docs, from the introspection GraphiQL made over HTTP.
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await waitForText(docs, /Query/);
  await docs.getByRole('link', { name: 'Query', exact: true }).click();
  await waitForText(docs, /viewer/);
  await b.screenshotAll(page, 'playground-docs');
});

test('the playground opened without a session says how to get one, and /graphql in a browser leads to it', { timeout: 60_000 }, async () => {
  const page = await b.newPage({ colorScheme: 'dark' });
  await page.goto(`${b.url}/graphql`);
  await page.waitForURL(/\/playground$/);
  const editor = page.locator('section[aria-label="Query Editor"] .CodeMirror');
  await editor.waitFor();
  const text = await editor.evaluate((el) => (el as HTMLElement & { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
  assert.match(text, /Sign in on the dashboard/);
});
