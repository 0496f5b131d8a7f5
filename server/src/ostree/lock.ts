// Exclusive file locks (flock(2)) that the tools of a job hold, not only the job's process.
//
// The holder opens the lock file and takes the lock on that open file through `flock` (node has
// no flock call). Every tool started while the lock is held (runTool, through heldLockFds) gets
// the same open file as fd 3, and a flock lock belongs to the open file: it is released only when
// the last process holding it closes it. So the lock lives exactly as long as the longest-living
// of the job's process and the tools (and their children) it started: a worker killed with
// SIGKILL keeps its repo locked until its tools are gone too (setpriv --pdeathsig kills them at
// once), and a job taking over waits for that instead of writing beside a dying tool. It also
// works across machines on a filesystem whose flock is shared (NFSv4 maps flock to its locks).
import { mkdir, open, readFile, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { heldLockFds, runTool, ToolError } from './exec.ts';

/** flock's exit status when the lock is taken by someone else (or the wait timed out). */
const CONFLICT = 75;

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

export type AcquireOptions = {
  /** gives up with a LockTimeoutError after this long */
  waitSecs: number;
  signal?: AbortSignal;
  /** progress while waiting (who holds it, how long it has been) */
  onWait?: (line: string) => void;
  /** who is holding it, written into the lock file for those who wait (e.g. "job 12") */
  owner?: string;
  /** how often a waiter says it is still waiting; default 30 s */
  reportEveryMs?: number;
};

export type HeldLock = {
  readonly path: string;
  /** runs `fn` with the lock handed to every tool it starts */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** closes this process's hold: the lock is free once no tool holds it either */
  release(): Promise<void>;
};

/** The lock file of a repo (or a build's repo) under `<data-dir>/locks/`, apart from ostree's own `.lock`. */
export function lockFilePath(dataDir: string, name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith('.')) throw new Error(`bad lock name ${JSON.stringify(name)}`);
  return path.join(dataDir, 'locks', `${name}.lock`);
}

/** Takes the exclusive lock on `file`, waiting up to `waitSecs` for its holders (and their tools) to let go. */
export async function acquireFileLock(file: string, o: AcquireOptions): Promise<HeldLock> {
  await mkdir(path.dirname(file), { recursive: true });
  // libuv opens with O_CLOEXEC: only the tools started under this lock get it.
  const fh = await open(file, 'a+');
  try {
    if (!(await tryLock(fh.fd, null, o.signal))) {
      const started = Date.now();
      o.onWait?.(`waiting for the repo lock held by ${await describeHolder(file)} (${file})`);
      const report = setInterval(() => {
        void describeHolder(file).then((who) => o.onWait?.(`still waiting for the repo lock ${path.basename(file)} (${Math.round((Date.now() - started) / 1000)} s), held by ${who}`));
      }, o.reportEveryMs ?? 30_000);
      try {
        if (!(await tryLock(fh.fd, o.waitSecs, o.signal))) {
          throw new LockTimeoutError(`gave up waiting for the repo lock ${file} after ${o.waitSecs} s; it is held by ${await describeHolder(file)}`);
        }
      } finally {
        clearInterval(report);
      }
      o.onWait?.(`got the repo lock ${path.basename(file)} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    await writeOwner(fh, o.owner);
  } catch (err) {
    await fh.close();
    throw err;
  }
  const fd = fh.fd;
  let released = false;
  return {
    path: file,
    run: (fn) => heldLockFds.run([...(heldLockFds.getStore() ?? []), fd], fn),
    async release() {
      if (released) return;
      released = true;
      await fh.close();
    },
  };
}

/** Runs `fn` holding the lock on `file`; the lock stays while tools `fn` started are still alive. */
export async function withFileLock<T>(file: string, o: AcquireOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(file, o);
  try {
    return await lock.run(fn);
  } finally {
    await lock.release();
  }
}

/** true when the lock was taken; false on conflict (waitSecs null: at once, else after waiting that long). */
async function tryLock(fd: number, waitSecs: number | null, signal?: AbortSignal): Promise<boolean> {
  const args = ['--exclusive', '--conflict-exit-code', String(CONFLICT), ...(waitSecs === null ? ['--nonblock'] : ['--timeout', String(waitSecs)]), '3'];
  try {
    // Outside any lock this context holds, so that the fd to lock is fd 3 in flock.
    await heldLockFds.exit(() => runTool('flock', args, { inheritFds: [fd], signal, timeoutMs: ((waitSecs ?? 0) + 60) * 1000 }));
    return true;
  } catch (err) {
    if (err instanceof ToolError && err.reason === 'exit' && err.code === CONFLICT) return false;
    throw err;
  }
}

async function writeOwner(fh: FileHandle, owner: string | undefined): Promise<void> {
  await fh.truncate(0);
  await fh.write(`pid ${process.pid} on ${os.hostname()}${owner ? ` (${owner})` : ''}\n`, 0);
}

/** Who holds the lock: what its holder wrote, and on this machine the live processes that hold the file open. */
async function describeHolder(file: string): Promise<string> {
  const written = (await readFile(file, 'utf8').catch(() => '')).trim() || 'an unknown process';
  const m = /^pid (\d+) on (\S+)/.exec(written);
  if (!m || m[2] !== os.hostname()) return written;
  const holders = (await processesWithOpen(file)).filter((p) => p !== process.pid);
  const writerAlive = holders.includes(Number(m[1]));
  const tools = holders.filter((p) => p !== Number(m[1]));
  if (writerAlive) return written;
  return `${written}, which is gone${tools.length ? `; its tools still run: pid ${tools.join(', ')}` : ''}`;
}

/** Pids on this machine with `file` open (those we may look at). */
async function processesWithOpen(file: string): Promise<number[]> {
  const target = await realpath(file).catch(() => file);
  const out: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    // (a process waiting for the lock has it open as well)
    if (fds.length && (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'flock') continue;
    for (const fd of fds) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === target) {
        out.push(Number(pid));
        break;
      }
    }
  }
  return out;
}
