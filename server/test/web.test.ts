// The web dashboard served at / of fmd's port: its files with the right caching, deep links
// answered with index.html, API paths left to the API, no Apollo landing page (it loads from
// Apollo's CDN), and a clear answer when the dashboard was never built.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from './kit/server.ts';

const webDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-web-'));
const indexHtml = '<!doctype html><title>fmd</title><script type="module" src="/assets/index-Ab12.js"></script>';
mkdirSync(path.join(webDir, 'assets'));
writeFileSync(path.join(webDir, 'index.html'), indexHtml);
writeFileSync(path.join(webDir, 'assets', 'index-Ab12.js'), 'console.log("fmd")');
const playgroundHtml = '<!doctype html><title>fmd GraphQL playground</title>';
writeFileSync(path.join(webDir, 'playground.html'), playgroundHtml);
writeFileSync(path.join(webDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');

let s: TestServer;
before(async () => {
  s = await startTestServer({ 'web-dir': webDir });
});
after(async () => {
  await s.stop();
  rmSync(webDir, { recursive: true, force: true });
});

const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };

test('/ serves the dashboard, revalidated on each load; its hashed assets are cached for good', async () => {
  const page = await fetch(`${s.url}/`, { headers: html });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.equal(await page.text(), indexHtml);

  const js = await fetch(`${s.url}/assets/index-Ab12.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type')!, /javascript/);
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');

  const icon = await fetch(`${s.url}/favicon.svg`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('cache-control'), 'no-cache');
});

test('a deep link asked for as a page gets index.html; other requests and API paths are not the dashboard', async () => {
  for (const p of ['/builds/12', '/repos/stable/refs', '/tokens']) {
    const r = await fetch(`${s.url}${p}`, { headers: html });
    assert.equal(r.status, 200, p);
    assert.equal(await r.text(), indexHtml, p);
  }
  // A missing file or a non-page request is a plain 404, not the page.
  for (const [p, headers] of [['/assets/missing-1234.js', html], ['/builds/12', { accept: 'application/json' }], ['/builds/12', { accept: '*/*' }]] as const) {
    const r = await fetch(`${s.url}${p}`, { headers });
    assert.equal(r.status, 404, p);
    assert.notEqual(await r.text(), indexHtml, p);
  }
  // The API's paths keep their own answers, even from a browser.
  for (const p of ['/api/v1/no-such-route', '/repo/no-such-repo/config', '/build-repo/999999/config']) {
    const r = await fetch(`${s.url}${p}`, { headers: html });
    assert.equal(r.status, 404, p);
    assert.notEqual(await r.text(), indexHtml, p);
  }
  const health = await fetch(`${s.url}/healthz`, { headers: html });
  assert.deepEqual(await health.json(), { status: 'ok' });
});

test('files outside web-dir cannot be reached', async () => {
  for (const p of ['/..%2f..%2fetc%2fpasswd', '/assets/..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd']) {
    // (fetch resolves %2e%2e itself: asked as a page, that one is a deep link and gets the page.)
    const r = await fetch(`${s.url}${p}`, { headers: html });
    const body = await r.text();
    assert.doesNotMatch(body, /root:/, p);
    assert.ok(r.status === 404 || r.status === 403 || body === indexHtml, `${p}: ${r.status}`);
  }
});

test('a browser opening /graphql is sent to the playground, served by fmd; GraphQL requests still reach the endpoint', async () => {
  const r = await fetch(`${s.url}/graphql`, { headers: html, redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/playground');
  const page = await fetch(`${s.url}/playground`, { headers: html });
  assert.equal(page.status, 200);
  assert.equal(await page.text(), playgroundHtml);
  // No Apollo landing page for anyone (it loads Apollo Sandbox from Apollo's CDN).
  const plain = await fetch(`${s.url}/graphql`, { headers: { accept: '*/*' } });
  assert.doesNotMatch(await plain.text(), /apollographql\.com|embeddable-sandbox|cdn\./i);
  // GraphQL itself still answers, over GET (with a query) and POST.
  const get = await fetch(`${s.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { ...html, 'apollo-require-preflight': 'true' } });
  assert.deepEqual(await get.json(), { data: { __typename: 'Query' } });
  const post = await fetch(`${s.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
  assert.deepEqual(await post.json(), { data: { __typename: 'Query' } });
});

test('the web pages carry security headers (CSP of this origin only, no framing, sniffing or referrers); the API and repo files do not', async () => {
  const host = new URL(s.url).host;
  const pages: Array<[string, Record<string, string>]> = [
    ['/', html],
    ['/builds/12', html],
    ['/playground', html],
    ['/assets/index-Ab12.js', {}],
    ['/favicon.svg', {}],
  ];
  for (const [p, headers] of pages) {
    const r = await fetch(`${s.url}${p}`, { headers });
    assert.equal(r.status, 200, p);
    const csp = r.headers.get('content-security-policy') ?? '';
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]));
    assert.deepEqual(directives.get('default-src'), ["'self'"], `${p}: ${csp}`);
    assert.deepEqual(directives.get('script-src'), ["'self'"], p);
    assert.deepEqual(directives.get('style-src'), ["'self'"], p);
    assert.deepEqual(directives.get('connect-src'), ["'self'", `ws://${host}`, `wss://${host}`], p);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], p);
    assert.deepEqual(directives.get('object-src'), ["'none'"], p);
    assert.doesNotMatch(csp, /unsafe-|\*/, p);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', p);
    assert.equal(r.headers.get('x-frame-options'), 'DENY', p);
    assert.match(r.headers.get('permissions-policy') ?? '', /camera=\(\), microphone=\(\), geolocation=\(\)/, p);
  }
  // A Host header that would inject a directive is left out of the policy.
  const odd = await new Promise<string>((resolve, reject) => {
    const req = http.get(`${s.url}/`, { headers: { ...html, host: "evil; script-src 'unsafe-inline'" } }, (res) => {
      res.resume();
      resolve(String(res.headers['content-security-policy']));
    });
    req.on('error', reject);
  });
  assert.match(odd, /connect-src 'self';/);
  assert.doesNotMatch(odd, /evil|unsafe-inline/);
  // Not the API, GraphQL, repo files, health checks or the API's own 404s.
  await s.gql(`mutation { createRepo(input: { name: "stable" }) { __typename } }`);
  for (const p of ['/api/v1/build', '/api/v1/no-such-route', '/repo/stable/config', '/repo/no-such-repo/config', '/healthz', '/graphql?query=%7B__typename%7D']) {
    const r = await fetch(`${s.url}${p}`, { headers: { authorization: `Bearer ${s.adminToken}`, 'apollo-require-preflight': '1' } });
    assert.ok(r.status < 500, `${p}: ${r.status}`);
    for (const h of ['content-security-policy', 'x-frame-options', 'referrer-policy', 'permissions-policy']) assert.equal(r.headers.get(h), null, `${p}: ${h}`);
  }
});

test('without a built dashboard, a page request says how to build it', async () => {
  const bare = await startTestServer({ 'web-dir': path.join(webDir, 'not-built') });
  try {
    const r = await fetch(`${bare.url}/`, { headers: html });
    assert.equal(r.status, 503);
    assert.match(await r.text(), /not built.*npm run -w @fmd\/web build/s);
    const api = await fetch(`${bare.url}/healthz`);
    assert.equal(api.status, 200);
  } finally {
    await bare.stop();
  }
});
