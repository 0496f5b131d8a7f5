import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireFileLock, LockTimeoutError, withFileLock } from './lock.ts';
import { runTool } from './exec.ts';

const lockTs = new URL('./lock.ts', import.meta.url).href;
const execTs = new URL('./exec.ts', import.meta.url).href;

/** A process that takes the lock, starts `script` (sh) under it and prints what the tool prints first, then waits. */
async function holder(file: string, script: string) {
  const code = `const { acquireFileLock } = await import(${JSON.stringify(lockTs)});
    const { runTool } = await import(${JSON.stringify(execTs)});
    const lock = await acquireFileLock(${JSON.stringify(file)}, { waitSecs: 5, owner: 'the holder' });
    let said = false;
    lock.run(() => runTool('sh', ['-c', ${JSON.stringify(script)}], { onLine: (l) => { if (!said) { said = true; console.log(l); } } })).catch(() => {});
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const toolPid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
  assert.ok(toolPid > 0);
  return { parent, toolPid };
}

/** Running: not gone and not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('a lock is exclusive, waits and times out with who holds it, and is free after release', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-lock-'));
  try {
    const file = path.join(dir, 'locks', 'repo-a.lock');
    const a = await acquireFileLock(file, { waitSecs: 1, owner: 'job 1' });
    const lines: string[] = [];
    await assert.rejects(acquireFileLock(file, { waitSecs: 1, onWait: (l) => lines.push(l) }), (e: unknown) => e instanceof LockTimeoutError && /held by pid \d+ on .* \(job 1\)/.test(e.message));
    assert.match(lines[0] ?? '', new RegExp(`^waiting for the repo lock held by pid ${process.pid} on .* \\(job 1\\)`));
    // the second one gets it as soon as the first lets go
    const second = acquireFileLock(file, { waitSecs: 20, owner: 'job 2' });
    setTimeout(() => void a.release(), 300);
    const b = await second;
    assert.match(readFileSync(file, 'utf8'), /\(job 2\)/);
    await b.release();
    // tools run under it get it; the lock is free again once all is done
    const out = await withFileLock(file, { waitSecs: 1 }, async () => (await runTool('sh', ['-c', 'flock -n -E 9 3 || echo held-by-us-only'])).stdout);
    assert.equal(out.trim(), '', 'fd 3 of the tool is the lock the job holds: taking it again from there succeeds');
    await (await acquireFileLock(file, { waitSecs: 1 })).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after a kill -9 of its holder the lock stays until its tool is dead, and a second locker waits until then', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-lock-'));
  try {
    // 1. The tool itself: setpriv --pdeathsig kills it with its parent, and the lock goes with it.
    const file = path.join(dir, 'repo-a.lock');
    const one = await holder(file, 'echo $$; exec sleep 300');
    await assert.rejects(acquireFileLock(file, { waitSecs: 1 }), LockTimeoutError);
    one.parent.kill('SIGKILL');
    const got = await acquireFileLock(file, { waitSecs: 20 });
    assert.equal(running(one.toolPid), false, 'the lock was free only once the tool was dead');
    await got.release();

    // 2. A process the tool left behind (it escapes the parent-death signal) holds the lock too:
    //    the waiter says so, and gets the lock only once that process has ended.
    const file2 = path.join(dir, 'repo-b.lock');
    const two = await holder(file2, 'sleep 4 & echo $!; wait');
    two.parent.kill('SIGKILL');
    await new Promise<void>((r) => two.parent.once('exit', () => r()));
    assert.equal(running(two.toolPid), true, 'the left-behind process outlives the holder');
    const lines: string[] = [];
    const got2 = await acquireFileLock(file2, { waitSecs: 30, onWait: (l) => lines.push(l) });
    assert.equal(running(two.toolPid), false, 'the lock was free only once the left-behind process was dead');
    assert.match(lines[0] ?? '', new RegExp(`held by pid ${two.parent.pid} on .*\\(the holder\\), which is gone; its tools still run: pid ${two.toolPid}`));
    assert.match(lines.at(-1) ?? '', /^got the repo lock/);
    await got2.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
