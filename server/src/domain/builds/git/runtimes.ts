// The flatpak installation git builds take their runtimes, SDKs, SDK extensions and base apps
// from. It belongs to the builder, not to any user, and is filled outside the jail before a build
// starts (the build itself only reads it: a manifest cannot tamper with what other builds use).
// Its remotes are the configured builder remotes plus fmd's own repos, given by the caller.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool, ToolError } from '../../../ostree/exec.ts';
import { isolatedEnv } from '../../../ostree/flatpak.ts';
import type { ToolRunOptions } from '../../../ostree/ostree.ts';
import { InvalidInputError } from '../../errors.ts';

export interface BuilderRemote {
  name: string;
  url: string;
  /** Base64 of the binary OpenPGP public key; without it the remote is not GPG-verified (fmd's own file:// repos). */
  gpgKey?: string;
}

export interface RuntimeRef {
  id: string;
  version: string;
  arch: string;
}

/** No remote provides a runtime (or SDK, extension, base app) a manifest needs. */
export class MissingRuntimeError extends InvalidInputError {
  readonly ref: RuntimeRef;
  readonly remotes: string[];
  constructor(ref: RuntimeRef, remotes: string[]) {
    super(
      `runtime ${ref.id}//${ref.version} (${ref.arch}) is in none of the remotes: ${remotes.length ? remotes.join(', ') : '(none configured)'}`,
      'runtime',
    );
    this.ref = ref;
    this.remotes = remotes;
  }
}

const REMOTE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;
const ID_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_-][A-Za-z0-9_-]*)+$/;
const VERSION_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const ARCH_RE = /^[A-Za-z0-9_]+$/;

/** Holders of each installation's lock inside this process; the lock file orders processes. */
const inProcess = new Map<string, Promise<void>>();

export class BuilderInstallation {
  readonly dir: string;
  readonly remotes: BuilderRemote[];

  constructor(o: { dir: string; remotes: BuilderRemote[] }) {
    for (const r of o.remotes) {
      if (!REMOTE_NAME_RE.test(r.name)) throw new InvalidInputError(`invalid builder remote name ${JSON.stringify(r.name)}`, 'builderRemotes');
      if (r.url.startsWith('-')) throw new InvalidInputError(`invalid builder remote URL ${JSON.stringify(r.url)}`, 'builderRemotes');
    }
    const names = new Set(o.remotes.map((r) => r.name));
    if (names.size !== o.remotes.length) throw new InvalidInputError('builder remote names must be unique', 'builderRemotes');
    this.dir = o.dir;
    this.remotes = o.remotes;
  }

  /** HOME/XDG dirs and FLATPAK_USER_DIR for flatpak and flatpak-builder using this installation. */
  env(): NodeJS.ProcessEnv {
    return isolatedEnv(this.dir);
  }

  /** Where flatpak keeps the installed refs; a build needs it readable (see jail.ts). */
  get flatpakDir(): string {
    return this.env().FLATPAK_USER_DIR!;
  }

  /**
   * Makes every ref installed and current: syncs the remotes, installs what is missing from the first
   * remote that has it, updates what is installed. One call at a time per installation, across processes.
   */
  async ensure(refs: RuntimeRef[], tools: ToolRunOptions = {}): Promise<void> {
    for (const r of refs) {
      if (!ID_RE.test(r.id) || !VERSION_RE.test(r.version) || !ARCH_RE.test(r.arch)) {
        throw new InvalidInputError(`invalid runtime ${r.id}//${r.version} (${r.arch})`, 'runtime');
      }
    }
    await this.withLock(tools, async () => {
      await this.prepareDirs();
      await this.syncRemotes(tools);
      for (const ref of refs) await this.ensureOne(ref, tools);
      // flatpak creates its user dir 0700; the jailed build runs as another user and only reads it.
      await chmod(this.flatpakDir, 0o755);
    });
  }

  private flatpak(args: string[], tools: ToolRunOptions) {
    return runTool('flatpak', ['--user', ...args], { ...tools, env: { ...this.env(), ...tools.env } });
  }

  private async prepareDirs(): Promise<void> {
    const env = this.env();
    for (const k of ['HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_STATE_HOME'] as const) {
      await mkdir(env[k]!, { recursive: true });
    }
    await mkdir(path.join(this.dir, 'keys'), { recursive: true });
    for (const d of [this.dir, env.XDG_DATA_HOME!]) await chmod(d, 0o755);
  }

  private async syncRemotes(tools: ToolRunOptions): Promise<void> {
    const { stdout } = await this.flatpak(['remotes', '--columns=name'], { ...tools, onLine: undefined });
    const existing = new Set(stdout.split('\n').map((l) => l.trim()).filter(Boolean));
    const wanted = new Set(this.remotes.map((r) => r.name));
    for (const name of existing) {
      if (!wanted.has(name)) await this.flatpak(['remote-delete', '--force', name], tools);
    }
    for (const r of this.remotes) {
      const gpg: string[] = [];
      if (r.gpgKey) {
        const keyFile = path.join(this.dir, 'keys', `${r.name}.gpg`);
        await writeFile(keyFile, Buffer.from(r.gpgKey, 'base64'));
        gpg.push(`--gpg-import=${keyFile}`);
      }
      if (existing.has(r.name)) {
        await this.flatpak(['remote-modify', `--url=${r.url}`, r.gpgKey ? '--gpg-verify' : '--no-gpg-verify', ...gpg, r.name], tools);
      } else {
        await this.flatpak(['remote-add', '--if-not-exists', ...(r.gpgKey ? gpg : ['--no-gpg-verify']), '--', r.name, r.url], tools);
      }
    }
  }

  private async ensureOne(ref: RuntimeRef, tools: ToolRunOptions): Promise<void> {
    const partial = `${ref.id}//${ref.version}`;
    // The probes' output stays out of the build's log: a "not installed" answer is expected, yet
    // reads as an error line in a build that went well.
    const probe: ToolRunOptions = { ...tools, onLine: undefined };
    const installed = await this.flatpak(['info', `--arch=${ref.arch}`, partial], probe).then(
      () => true,
      (err: unknown) => {
        if (err instanceof ToolError && err.reason === 'exit') return false;
        throw err;
      },
    );
    if (installed) {
      await this.flatpak(['update', '-y', '--noninteractive', '--no-related', `--arch=${ref.arch}`, partial], tools);
      return;
    }
    for (const remote of this.remotes) {
      const has = await this.flatpak(['remote-info', `--arch=${ref.arch}`, remote.name, partial], probe).then(
        () => true,
        (err: unknown) => {
          if (err instanceof ToolError && err.reason === 'exit') return false;
          throw err;
        },
      );
      if (!has) continue;
      await this.flatpak(['install', '-y', '--noninteractive', '--no-related', `--arch=${ref.arch}`, remote.name, partial], tools);
      return;
    }
    throw new MissingRuntimeError(ref, this.remotes.map((r) => r.name));
  }

  /** In this process: a promise chain per installation. Across processes: a lock file with the holder's host and pid. */
  private async withLock(tools: ToolRunOptions, body: () => Promise<void>): Promise<void> {
    const key = path.resolve(this.dir);
    const before = inProcess.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chain = before.then(() => mine);
    inProcess.set(key, chain);
    try {
      await before;
      await mkdir(this.dir, { recursive: true });
      const lockFile = path.join(this.dir, 'install.lock');
      const token = await acquireFileLock(lockFile, tools.signal, tools.timeoutMs ?? 30 * 60 * 1000);
      try {
        await body();
      } finally {
        await releaseFileLock(lockFile, token);
      }
    } finally {
      release();
      if (inProcess.get(key) === chain) inProcess.delete(key);
    }
  }
}

interface LockHolder {
  host: string;
  pid: number;
  token: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquireFileLock(file: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<string> {
  const me: LockHolder = { host: hostname(), pid: process.pid, token: randomUUID() };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return me.token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readFile(file, 'utf8')
      .then((t) => JSON.parse(t) as LockHolder)
      .catch(() => null);
    // A holder that died on this host left its lock behind; on another host only the timeout helps.
    if (holder && holder.host === me.host && !alive(holder.pid)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the builder installation is locked by ${holder ? `pid ${holder.pid} on ${holder.host}` : 'another process'}`);
    await sleep(200, undefined, { signal });
  }
}

async function releaseFileLock(file: string, token: string): Promise<void> {
  const holder = await readFile(file, 'utf8')
    .then((t) => JSON.parse(t) as LockHolder)
    .catch(() => null);
  if (holder?.token === token) await rm(file, { force: true });
}
