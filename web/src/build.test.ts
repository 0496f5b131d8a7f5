// The production build as fmd serves it: every file index.html loads exists under /assets/,
// nothing loads from another host, and the initial JavaScript stays within its budget.
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

test('the built dashboard loads only its own files, and its initial JS is under 150 kB gzip', { timeout: 180_000 }, async () => {
  const vite = path.join(webDir, '..', 'node_modules', 'vite', 'bin', 'vite.js');
  await exec(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: webDir });
  const html = readFileSync(path.join(outDir, 'index.html'), 'utf8');

  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(urls.length > 0, 'index.html loads something');
  for (const u of urls) {
    assert.match(u, /^\/assets\//, `${u}: served by fmd under /assets/`);
    assert.ok(existsSync(path.join(outDir, u)), `${u} is in the build`);
  }
  assert.doesNotMatch(html, /https?:\/\//, 'no URL of another host in index.html');

  const initialJs = urls.filter((u) => u.endsWith('.js'));
  assert.ok(initialJs.length > 0, 'a script');
  const gz = initialJs.reduce((sum, u) => sum + gzipSync(readFileSync(path.join(outDir, u))).length, 0);
  console.log(`initial JS: ${initialJs.length} file(s), ${(gz / 1024).toFixed(1)} kB gzip (budget ${initialJsBudget / 1024} kB)`);
  assert.ok(gz < initialJsBudget, `initial JS is ${gz} bytes gzip, over the ${initialJsBudget}-byte budget`);
});
