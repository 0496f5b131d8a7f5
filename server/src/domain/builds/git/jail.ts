// The jail git builds run flatpak-builder in. A manifest is untrusted code, and so is the
// repository around it: flatpak-builder itself (outside `flatpak build`'s sandbox) reads sources
// named by the manifest, and follows a symlink in the checkout to any file on the machine (tried:
// a `type: file` source that is a symlink to fmd's `secret` copied the secret into the build).
// `--sandbox` does not stop that. So flatpak-builder runs in a bubblewrap jail whose filesystem
// has only the system dirs (read-only), this build's own dirs (writable) and the builder
// installation (read-only): fmd's data dir — `secret`, `master-key`, the embedded MariaDB's files
// and socket, other builds' dirs — is simply not there.
//
// Why bubblewrap AND an unprivileged user (fmd-builder) when fmd runs as root — found by trying
// here (bwrap 0.8, flatpak 1.14):
// - bwrap run by root keeps CAP_SYS_ADMIN in its user namespace, and the read-only binds it makes
//   there are not locked: the build could remount /usr read-write and write to it as real root.
// - Dropping the capabilities (--cap-drop ALL) breaks `flatpak build`'s own bwrap, which as uid 0
//   does not create a user namespace and then lacks the rights ("Creating new namespace failed").
// - With a non-zero uid inside, `flatpak build` makes a nested user namespace but cannot mount its
//   /proc: root's bwrap covers /proc/sys and friends with read-only binds, which become locked in
//   the nested namespace, and the kernel refuses a proc mount that would reveal what they cover.
// - Started as an unprivileged user, bwrap has no capabilities to lose, does not cover /proc (it
//   cannot write there anyway), and `flatpak build` nests fine inside it.
// When fmd itself does not run as root the jail runs as fmd's user, which is already unprivileged.
//
// The jail has its own PID namespace and dies with its parent (--die-with-parent): when runTool
// kills the process group (cancel, timeout), bwrap dies, the namespace's init is killed with it,
// and the kernel kills everything left inside, however the build detached itself.
// The network is shared: builds download their sources.
import { existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { runTool } from '../../../ostree/exec.ts';

export const BUILDER_USER = 'fmd-builder';

export interface Jail {
  /** The command line that runs `cmd args` inside the jail. */
  wrap(cmd: string, args: readonly string[]): { cmd: string; args: string[] };
  /** The user the jail runs as (null: fmd's own, when fmd is not root). What it must write has to be theirs. */
  readonly owner: { uid: number; gid: number } | null;
  /** The bubblewrap arguments, for logs and tests. */
  readonly bwrapArgs: readonly string[];
}

export interface JailOptions {
  /** The build's work dir: writable. */
  workDir: string;
  /** Also writable (the upload repo, the app's state dir...). Given to the jail's user (chown -R). */
  writable: string[];
  /** Visible read-only (the builder installation...). Must be readable by the jail's user. */
  readOnly: string[];
  /**
   * Paths to mask even where they would show through a bound system dir (fmd's data dir, its config
   * file): a dir becomes an empty tmpfs, a file /dev/null. Paths bound above stay visible beneath them.
   */
  hidden?: string[];
  /** The system user to run as when fmd is root; default fmd-builder. */
  user?: string;
}

const SYSTEM_DIRS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const SYS_SUBDIRS = ['/sys/block', '/sys/bus', '/sys/class', '/sys/dev', '/sys/devices'];

async function lookupUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const uid = Number.parseInt((await runTool('id', ['-u', '--', name])).stdout.trim(), 10);
    const gid = Number.parseInt((await runTool('id', ['-g', '--', name])).stdout.trim(), 10);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error('unparsable id output');
    if (uid === 0) throw new Error(`${name} is root`);
    return { uid, gid };
  } catch (err) {
    throw new Error(
      `git builds run as the unprivileged system user ${name} when fmd runs as root, and it is missing or unusable ` +
        `(${err instanceof Error ? err.message.split('\n')[0] : String(err)}): run scripts/install.sh, or ` +
        `useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${name}`,
      { cause: err },
    );
  }
}

/** bwrap runs as the jail's user, so it must be able to walk to every path it binds. */
function assertReachable(p: string, uid: number, user: string): void {
  for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
    const st = statSync(dir);
    const searchable = st.uid === uid ? (st.mode & 0o100) !== 0 : (st.mode & 0o001) !== 0;
    if (!searchable) throw new Error(`jail: ${user} cannot reach ${p}: ${dir} is not searchable by others (chmod o+x ${dir})`);
    if (dir === path.dirname(dir)) return;
  }
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Absolute, symlinks resolved where the path exists (bwrap binds what the path resolves to). */
function real(p: string): string {
  const abs = path.resolve(p);
  return existsSync(abs) ? realpathSync(abs) : abs;
}

/** The user a jail runs as: the build user when fmd is root, else null (fmd's own user). */
export async function jailOwner(user: string = BUILDER_USER): Promise<{ uid: number; gid: number } | null> {
  return process.getuid?.() === 0 ? lookupUser(user) : null;
}

export async function createJail(o: JailOptions): Promise<Jail> {
  const owner = await jailOwner(o.user);
  const writable = [...new Set([o.workDir, ...o.writable].map(real))];
  const readOnly = [...new Set(o.readOnly.map(real))];
  const hidden = [...new Set((o.hidden ?? []).map((p) => path.resolve(p)).filter((p) => existsSync(p)).map(real))];
  for (const p of [...writable, ...readOnly]) {
    if (!existsSync(p)) throw new Error(`jail: ${p} does not exist`);
  }
  if (owner) {
    for (const p of [...writable, ...readOnly]) assertReachable(p, owner.uid, o.user ?? BUILDER_USER);
    // --no-dereference: a symlink in a checkout must not hand the target of the link to the build user.
    for (const p of writable) await runTool('chown', ['-R', '--no-dereference', `${owner.uid}:${owner.gid}`, '--', p]);
  }

  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'fmd-build',
    '--die-with-parent',
    '--new-session',
  ];
  const systemBound: string[] = [];
  for (const d of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(d);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(d), d);
    else if (st.isDirectory()) {
      args.push('--ro-bind', d, d);
      systemBound.push(d);
    }
  }
  // /etc/resolv.conf is often a link into /run, which the jail does not have.
  try {
    if (lstatSync('/etc/resolv.conf').isSymbolicLink()) {
      const target = realpathSync('/etc/resolv.conf');
      if (!under(target, '/etc') && !under(target, '/usr')) args.push('--ro-bind', target, target);
    }
  } catch {
    // No resolver config: builds that download will say so themselves.
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  // `flatpak build` binds these into its own sandbox.
  for (const d of SYS_SUBDIRS) if (existsSync(d)) args.push('--ro-bind', d, d);
  args.push('--tmpfs', '/tmp', '--tmpfs', '/var/tmp', '--dir', '/run');

  // Binds and masks in order of depth, so a mask hides what lies below it except what is bound deeper.
  type Op = { path: string; args: string[]; rank: number };
  const ops: Op[] = [];
  for (const p of readOnly) ops.push({ path: p, args: ['--ro-bind', p, p], rank: 0 });
  for (const p of writable) ops.push({ path: p, args: ['--bind', p, p], rank: 0 });
  const bound = [...systemBound, ...readOnly, ...writable];
  for (const h of hidden) {
    // A hidden path outside everything bound is already absent.
    if (!bound.some((b) => under(h, b) && h !== b)) continue;
    const isDir = lstatSync(h).isDirectory();
    ops.push({ path: h, args: isDir ? ['--tmpfs', h] : ['--ro-bind', '/dev/null', h], rank: 1 });
  }
  ops.sort((a, b) => depth(a.path) - depth(b.path) || b.rank - a.rank);
  for (const op of ops) args.push(...op.args);

  const bwrapArgs = Object.freeze([...args]);
  const jail: Jail = {
    owner,
    bwrapArgs,
    wrap(cmd, cmdArgs) {
      const inner = ['bwrap', ...bwrapArgs, '--', cmd, ...cmdArgs];
      if (!owner) return { cmd: inner[0]!, args: inner.slice(1) };
      // setpriv sets real, effective and saved ids, drops every capability and forbids regaining any.
      return {
        cmd: 'setpriv',
        args: [
          `--reuid=${owner.uid}`,
          `--regid=${owner.gid}`,
          '--clear-groups',
          '--inh-caps=-all',
          '--bounding-set=-all',
          '--no-new-privs',
          '--',
          ...inner,
        ],
      };
    },
  };
  await probe(jail, writable[0]!);
  return jail;
}

const probed = new Map<string, Promise<void>>();

/**
 * Starts the jail once per process and user before the first build: a machine without unprivileged
 * user namespaces (some distributions and container runtimes forbid them) then fails with a reason
 * an operator can act on, not with a build that dies in its first second.
 */
function probe(jail: Jail, cwd: string): Promise<void> {
  const key = String(jail.owner?.uid ?? 'self');
  let p = probed.get(key);
  if (!p) {
    const run = jail.wrap('true', []);
    p = runTool(run.cmd, run.args, { cwd, timeoutMs: 30_000 }).then(
      () => undefined,
      (err: unknown) => {
        probed.delete(key);
        const detail = err instanceof Error ? err.message : String(err);
        throw new Error(
          `the build jail cannot start (${detail}): git builds need bubblewrap and unprivileged user namespaces ` +
            '(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; in a container, a seccomp/AppArmor profile that allows them)',
          { cause: err },
        );
      },
    );
    probed.set(key, p);
  }
  return p;
}
