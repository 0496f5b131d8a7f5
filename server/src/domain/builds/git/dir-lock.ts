// One build at a time per flatpak-builder state dir (an app's module cache), across the worker
// processes of one machine: a lock file created exclusively, holding the owner's host and pid, so
// that the lock of a process that died is taken over instead of blocking the app's builds forever.
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export type DirLock = { release(): Promise<void> };

const LOCK_NAME = '.fmd-lock';

/** Waits (polling every `everyMs`, until `signal` aborts) for the lock of `dir`; `waiting` is told once who holds it. */
export async function lockDir(dir: string, o: { owner: string; signal?: AbortSignal; everyMs?: number; waiting?: (holder: string) => void }): Promise<DirLock> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCK_NAME);
  const me = `${hostname()} ${process.pid} ${o.owner}`;
  let told = false;
  for (;;) {
    o.signal?.throwIfAborted();
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${me}\n`);
      await fh.close();
      return { release: () => releaseIfMine(file, me) };
    } catch (err) {
      // The dir was removed while we waited (the cache budget evicts a state dir under its lock).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(dir, { recursive: true });
        continue;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = (await readFile(file, 'utf8').catch(() => '')).trim();
    // An empty file is a holder between its open and its write, or one that died there.
    const dead = holder === '' ? Date.now() - ((await stat(file).catch(() => null))?.mtimeMs ?? 0) > 10_000 : isDead(holder);
    if (dead) {
      await rm(file, { force: true });
      continue;
    }
    if (!told && o.waiting) {
      told = true;
      o.waiting(holder.split(' ').slice(2).join(' ') || 'another build');
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, o.everyMs ?? 500);
      o.signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }
}

/** The lock of an existing `dir` if nobody holds it now (a dead holder's is taken over), else null. */
export async function tryLockDir(dir: string, owner: string): Promise<DirLock | null> {
  const file = path.join(dir, LOCK_NAME);
  const me = `${hostname()} ${process.pid} ${owner}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${me}\n`);
      await fh.close();
      return { release: () => releaseIfMine(file, me) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = (await readFile(file, 'utf8').catch(() => '')).trim();
    const dead = holder === '' ? Date.now() - ((await stat(file).catch(() => null))?.mtimeMs ?? 0) > 10_000 : isDead(holder);
    if (!dead) return null;
    await rm(file, { force: true });
  }
  return null;
}

async function releaseIfMine(file: string, me: string): Promise<void> {
  const holder = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (holder === me) await rm(file, { force: true });
}

/** A holder on this host whose process is gone. */
function isDead(holder: string): boolean {
  const [host, pid] = holder.split(' ');
  if (host !== hostname() || !pid || !/^\d+$/.test(pid)) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
