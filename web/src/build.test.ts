// The production build as fmd serves it: every file the dashboard and the playground pages load
// exists under /assets/, nothing loads from another host, the dashboard's initial JavaScript
// stays within its budget and React (GraphiQL's) only comes with the playground.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const exec = promisify(execFile);
const webDir = fileURLToPath(new URL('..', import.meta.url));
const outDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-web-build-'));
after(() => rmSync(outDir, { recursive: true, force: true }));

/** gzip budget of the JavaScript the dashboard's first page load fetches */
const initialJsBudget = 150 * 1024;

test('the built pages load only their own files; the dashboard\'s initial JS is under 150 kB gzip and holds no React', { timeout: 180_000 }, async () => {
  const vite = path.join(webDir, '..', 'node_modules', 'vite', 'bin', 'vite.js');
  await exec(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: webDir });
  const loads = (page: string) => {
    const html = readFileSync(path.join(outDir, page), 'utf8');
    assert.doesNotMatch(html, /https?:\/\//, `no URL of another host in ${page}`);
    // what the page loads (scripts, style sheets, icons), not where its links lead
    const urls = [...html.matchAll(/<(?:script|link|img)\b[^>]*?\s(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.ok(urls.length > 0, `${page} loads something`);
    for (const u of urls) {
      assert.match(u, /^\/assets\//, `${page}: ${u} is served by fmd under /assets/`);
      assert.ok(existsSync(path.join(outDir, u)), `${page}: ${u} is in the build`);
    }
    return urls;
  };

  const initialJs = loads('index.html').filter((u) => u.endsWith('.js'));
  assert.ok(initialJs.length > 0, 'a script');
  const code = initialJs.map((u) => readFileSync(path.join(outDir, u)));
  // React (GraphiQL's) stays on the playground's page.
  for (const [i, c] of code.entries()) assert.doesNotMatch(c.toString(), /react\.transitional\.element|react\.element/, `${initialJs[i]} holds React`);
  const gz = code.reduce((sum, c) => sum + gzipSync(c).length, 0);
  console.log(`initial JS: ${initialJs.length} file(s), ${(gz / 1024).toFixed(1)} kB gzip (budget ${initialJsBudget / 1024} kB)`);
  assert.ok(gz < initialJsBudget, `initial JS is ${gz} bytes gzip, over the ${initialJsBudget}-byte budget`);

  const playgroundJs = loads('playground.html').filter((u) => u.endsWith('.js'));
  const playgroundCode = playgroundJs.map((u) => readFileSync(path.join(outDir, u), 'utf8')).join('\n');
  assert.match(playgroundCode, /react\.transitional\.element|react\.element/, 'the playground bundles React');
});
