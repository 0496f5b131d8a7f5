// The README's first command in miniature: fmd on an empty data dir with no DATABASE_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// `fmd serve`, as npm start and scripts/start.sh run it.
const fmd = fileURLToPath(new URL('../bin/fmd.js', import.meta.url));

type Running = { child: ChildProcess; url: string; token: string | null; output: () => string };

function startFmd(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [fmd, 'serve'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, FMD_PORT: '0', FMD_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fmd did not start in time:\n${out}`)), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fmd exited with ${code}:\n${out}`));
    });
    const check = () => {
      const m = /fmd is running at (\S+)/.exec(out);
      // The token, when there is one, is printed right after the URL line.
      if (m && (out.includes('Admin token') ? /Admin token[^\n]*\n\n\s+(\S+)/.test(out) : true)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url: m[1]!, token: /Admin token[^\n]*\n\n\s+(\S+)/.exec(out)?.[1] ?? null, output: () => out });
      }
    };
    child.stdout!.on('data', () => setTimeout(check, 50));
  });
}

async function stopFmd(r: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => r.child.on('exit', (code) => resolve(code)));
  r.child.kill('SIGTERM');
  return exited;
}

async function viewer(url: string, token?: string) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: '{ viewer { name scopes user { name isAdmin } } }' }),
  });
  return (await res.json()) as any;
}

test('fmd starts on an empty data dir with its own MariaDB, prints an admin token, and reuses its data on restart', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-start-'));
  try {
    const first = await startFmd({ FMD_DATA_DIR: dataDir });
    assert.ok(first.token, first.output());
    const ok = await viewer(first.url, first.token!);
    assert.equal(ok.data.viewer.user.name, 'admin');
    assert.equal(ok.data.viewer.user.isAdmin, true);
    assert.equal((await viewer(first.url)).errors[0].extensions.code, 'UNAUTHENTICATED');
    const health = await fetch(`${first.url}/readyz`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`${first.url}/metrics`, { headers: { authorization: `Bearer ${first.token}` } })).text();
    assert.match(metrics, /fmd_http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\}/);
    assert.equal(await stopFmd(first), 0);
    // The embedded server was shut down with fmd.
    assert.equal(existsSync(path.join(dataDir, 'mariadb', 'mysqld.sock')), false);

    const second = await startFmd({ FMD_DATA_DIR: dataDir });
    assert.equal(second.token, null, 'the admin token is printed on the first start only');
    assert.equal((await viewer(second.url, first.token!)).data.viewer.user.name, 'admin');
    assert.equal(await stopFmd(second), 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('bad configuration fails at start with one clear line per problem', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-badconf-'));
  const file = path.join(dir, 'fmd.yaml');
  writeFileSync(file, 'port: 99999\nbase-url: not a url\ncolour: blue\n');
  const child = spawn(process.execPath, [fmd, 'serve'], { env: { PATH: process.env.PATH, FMD_CONFIG: file, FMD_DATA_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  rmSync(dir, { recursive: true, force: true });
  assert.equal(code, 2);
  const lines = err.trim().split('\n');
  assert.equal(lines.length, 3, err);
  assert.ok(lines.some((l) => l.startsWith('fmd: config: port:')), err);
  assert.ok(lines.some((l) => l.startsWith('fmd: config: base-url:')), err);
  assert.ok(lines.some((l) => /colour/.test(l)), err);
});

test('an unreachable MongoDB job store stops fmd at start with a clear message, and the embedded MariaDB with it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-mongo-'));
  const child = spawn(process.execPath, [fmd, 'serve'], {
    env: { PATH: process.env.PATH, FMD_DATA_DIR: dir, FMD_PORT: '0', FMD_LOG_LEVEL: 'warn', FMD_JOBS_BACKEND: 'mongo', FMD_MONGODB_URL: 'mongodb://127.0.0.1:9/fmd' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  try {
    assert.equal(code, 1);
    assert.match(err, /jobs-backend mongo: cannot reach mongodb:\/\/127\.0\.0\.1:9\/fmd/);
    assert.equal(existsSync(path.join(dir, 'mariadb', 'mysqld.sock')), false, 'the embedded MariaDB was stopped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
