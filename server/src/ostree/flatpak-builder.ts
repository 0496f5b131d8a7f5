// flatpak-builder (1.2) as git builds run it: always `--sandbox` (a manifest is untrusted: no
// build-args that widen `flatpak build`'s sandbox, no sources outside the manifest's directory),
// a per-app state dir whose cache makes a rebuild skip unchanged modules, and optionally inside a
// jail (domain/builds/git/jail.ts) that hides fmd's own files from flatpak-builder itself.
//
// Not passed, on purpose: `--install-deps-from` (runtimes are installed beforehand, outside the
// jail, into an installation the build only reads); `--disable-updates` (a branch-tracking git
// source must be refetched on a rebuild). `--delete-build-dirs` is passed because the state dir is
// shared by every build of the app: kept build dirs of failed builds would pile up there; the job
// log holds what went wrong.
import { lchown, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { runTool } from './exec.ts';
import type { ToolRunOptions } from './ostree.ts';

/** What jail.ts provides; declared here so the tool wrapper does not depend on the domain. */
export interface CommandWrapper {
  wrap(cmd: string, args: readonly string[]): { cmd: string; args: string[] };
  /** The user the wrapped command runs as, when not fmd's own: what the run creates must be theirs. */
  readonly owner?: { uid: number; gid: number } | null;
}

export interface GitBuildFlatpakBuilderOptions {
  /** The manifest file; flatpak-builder resolves its relative source paths against its directory. */
  manifest: string;
  buildDir: string;
  repo: string;
  stateDir: string;
  arch: string;
  defaultBranch?: string;
  ccache?: boolean;
  /**
   * The checkout the manifest is in (default: the manifest's directory). flatpak-builder keys its module
   * cache on the manifest's path, so the build reads the manifest through a link at a path that is the
   * same for every build of the app: `<stateDir>/fmd-checkout` -> checkout. (Builds sharing a state dir
   * must not run at once — they must not anyway, the cache is not shared safely.)
   */
  checkout?: string;
  /** Working directory; default: the manifest's directory (through the link). */
  cwd?: string;
  /** The builder installation's environment (FLATPAK_USER_DIR...); HOME and XDG dirs are replaced by `homeDir`'s. */
  env: NodeJS.ProcessEnv;
  /** Per-run HOME, XDG and XDG_RUNTIME_DIR root (must be writable inside the jail); default `<dirname(buildDir)>/home`. */
  homeDir?: string;
  jail?: CommandWrapper;
}

export function flatpakBuilderArgs(o: GitBuildFlatpakBuilderOptions): string[] {
  const args = [
    '--sandbox',
    '--disable-rofiles-fuse',
    '--force-clean',
    '--delete-build-dirs',
    `--arch=${o.arch}`,
    `--state-dir=${o.stateDir}`,
    `--repo=${o.repo}`,
  ];
  if (o.defaultBranch) args.push(`--default-branch=${o.defaultBranch}`);
  if (o.ccache) args.push('--ccache');
  args.push('--', o.buildDir, o.manifest);
  return args;
}

export async function flatpakBuilder(o: GitBuildFlatpakBuilderOptions, tools: ToolRunOptions = {}): Promise<void> {
  const home = o.homeDir ?? path.join(path.dirname(o.buildDir), 'home');
  const dirs = {
    HOME: path.join(home, 'home'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_STATE_HOME: path.join(home, 'state'),
    // `flatpak build` allocates its instance id here; without it: "Unable to allocate instance id".
    XDG_RUNTIME_DIR: path.join(home, 'run'),
  };
  for (const d of [home, ...Object.values(dirs)]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    if (o.jail?.owner) await lchown(d, o.jail.owner.uid, o.jail.owner.gid);
  }
  const env: NodeJS.ProcessEnv = { ...o.env, ...dirs, LANG: o.env.LANG ?? 'C.UTF-8', DBUS_SESSION_BUS_ADDRESS: 'disabled:' };
  const checkout = o.checkout ?? path.dirname(o.manifest);
  const rel = path.relative(checkout, o.manifest);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`the manifest ${o.manifest} is not inside ${checkout}`);
  await mkdir(o.stateDir, { recursive: true });
  const link = path.join(o.stateDir, 'fmd-checkout');
  await rm(link, { force: true });
  await symlink(path.resolve(checkout), link);
  const manifest = path.join(link, rel);
  const args = flatpakBuilderArgs({ ...o, manifest });
  const run = o.jail ? o.jail.wrap('flatpak-builder', args) : { cmd: 'flatpak-builder', args };
  await runTool(run.cmd, run.args, { ...tools, env, cwd: o.cwd ?? path.dirname(manifest), displayName: 'flatpak-builder' });
}
