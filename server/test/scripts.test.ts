// The repository's scripts. start.sh as a supervisor runs it: `bash scripts/start.sh`, then a
// signal to that PID; fmd and its embedded MariaDB must stop with it, not stay behind as orphans.
// test-summary.sh: the suite's one closing count must not hide a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollFor } from './kit/server.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  return alive(-pgid);
}

// The process groups of the start.sh runs: what a failed assertion leaves running is killed at the end.
const groups: number[] = [];

type Started = { child: ChildProcess; exited: Promise<number | null>; output: () => string };

async function startScript(dataDir: string): Promise<Started> {
  const child = spawn('bash', ['scripts/start.sh'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FMD_DATA_DIR: dataDir, FMD_PORT: '0', FMD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so the test can tell whether anything it started outlived it.
    detached: true,
  });
  groups.push(child.pid!);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  await pollFor(() => {
    if (ended) throw new Error(`start.sh exited before fmd ran:\n${out}`);
    return out.includes('fmd is running at');
  }, 120_000, 100);
  return { child, exited, output: () => out };
}

async function stopsEverything(dataDir: string, signal: 'SIGTERM' | 'SIGINT'): Promise<void> {
  const started = await startScript(dataDir);
  const pid = started.child.pid!;
  const mariadbPid = Number(readFileSync(path.join(dataDir, 'mariadb', 'mysqld.pid'), 'utf8').trim());
  assert.ok(alive(mariadbPid), 'the embedded MariaDB runs');
  // The PID the supervisor holds is fmd itself (start.sh exec'd `fmd serve`), not a wrapper.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.deepEqual(cmdline.slice(1, 3), ['bin/fmd.js', 'serve'], `PID ${pid} is ${cmdline.join(' ')}`);
  // It serves the web dashboard it built (or found built) at its own URL.
  const url = /fmd is running at (\S+)/.exec(started.output())?.[1];
  assert.ok(url, started.output());
  const page = await fetch(new URL('/', url), { headers: { accept: 'text/html' } });
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<main id="app">/);
  assert.match(html, /<script type="module"[^>]* src="\/assets\/[\w-]+\.js"/);
  process.kill(pid, signal);
  // Generous for a loaded machine; fmd stops in about a second here.
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([started.exited, new Promise((r) => (timer = setTimeout(r, 60_000, 'still running')))]);
  clearTimeout(timer);
  assert.equal(code, 0, `after ${signal} start.sh's PID ended with ${String(code)}:\n${started.output()}`);
  await pollFor(() => !alive(mariadbPid), 30_000, 100).catch(() => assert.fail(`mariadbd ${mariadbPid} outlived fmd after ${signal}`));
  await pollFor(() => !groupAlive(pid), 30_000, 100).catch(() => assert.fail(`processes of start.sh outlived it after ${signal}`));
  assert.equal(existsSync(path.join(dataDir, 'mariadb', 'mysqld.sock')), false);
}

test('SIGTERM or SIGINT to the PID of scripts/start.sh stops fmd and its embedded MariaDB', async (t) => {
  // The test must not install anything; the suite's scripts/test.sh has just installed.
  const check = spawnSync('bash', ['scripts/install.sh', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(check.status, 0, `run scripts/install.sh first: ${check.stderr}`);
  // Short: the MariaDB socket path must fit in a unix socket address.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-sh-'));
  t.after(() => {
    for (const pgid of groups) if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  await stopsEverything(dataDir, 'SIGTERM');
  // Again on the same data, as a restart would; Ctrl-C in a terminal is SIGINT.
  await stopsEverything(dataDir, 'SIGINT');
});

/** Runs scripts/test-summary.sh on a turbo log made of `lines`. */
function summarize(lines: string[], status = 0): { code: number | null; out: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-summary-'));
  try {
    writeFileSync(path.join(dir, 'log'), lines.join('\n') + '\n');
    const r = spawnSync('bash', ['scripts/test-summary.sh', path.join(dir, 'log'), String(status)], { cwd: root, encoding: 'utf8' });
    return { code: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** node:test's closing summary of one workspace, as turbo prints it. */
const summary = (ws: string, n: { pass?: number; fail?: number; cancelled?: number; skipped?: number; todo?: number }) =>
  ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo'].map((k) => `@fmd/${ws}:test: \u2139 ${k} ${(n as Record<string, number>)[k] ?? 0}`);

const allPassing = [...summary('server', { pass: 140, skipped: 1 }), ...summary('sdk', { pass: 8 }), ...summary('cli', { pass: 13 }), ...summary('web', { pass: 2, todo: 1 })];

test('the closing count sums every workspace, with skipped (and todo) tests, and passes when nothing failed', () => {
  const r = summarize(['@fmd/server:test: \u2714 a test (3ms)', ...allPassing]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^tests: 163 passed, 0 failed, 2 skipped$/m);
  assert.ok(r.out.trimEnd().endsWith('tests: 163 passed, 0 failed, 2 skipped'), 'the count is the last line');
});

test('the closing count fails on a failed or cancelled test, a workspace without a summary, or a failed run', () => {
  const failed = summarize([...summary('server', { pass: 140, fail: 2 }), ...allPassing.slice(6)], 1);
  assert.equal(failed.code, 1);
  assert.match(failed.out, /^tests: 163 passed, 2 failed, 1 skipped$/m);

  const cancelled = summarize([...summary('server', { pass: 139, cancelled: 1 }), ...allPassing.slice(6)]);
  assert.equal(cancelled.code, 1);
  assert.match(cancelled.out, /^tests: 162 passed, 1 failed, 1 skipped$/m);

  // turbo stopped, or the SDK's test command died before node:test reported.
  const missing = summarize(allPassing.filter((l) => !l.startsWith('@fmd/sdk:')), 1);
  assert.equal(missing.code, 1);
  assert.match(missing.out, /@fmd\/sdk: no test summary/);

  const status = summarize(allPassing, 1);
  assert.equal(status.code, 1, 'a failed run fails even when every summary is clean');
});
