// Typed wrappers over the server-side flatpak commands (flatpak 1.14) and
// flatpak-builder (1.2). Only flags present in those versions are exposed.
// fmd signs with openpgp.js (see signatures.ts), so the gpg options exist for
// operators who prefer a GnuPG home; pass none and nothing is signed here.
import { runTool } from './exec.ts';
import type { ToolRunOptions } from './ostree.ts';

export interface GpgOptions {
  /** Key ids to sign with (`--gpg-sign` may repeat). */
  gpgSign?: string[];
  gpgHomedir?: string;
}

function gpgArgs(o: GpgOptions): string[] {
  const args = (o.gpgSign ?? []).map((k) => `--gpg-sign=${k}`);
  if (o.gpgHomedir) args.push(`--gpg-homedir=${o.gpgHomedir}`);
  return args;
}

function flatpak(args: string[], opts: ToolRunOptions = {}) {
  return runTool('flatpak', args, opts);
}

export interface BuildExportOptions extends GpgOptions {
  /** Subdirectory holding the files; runtimes made by hand keep them in `files/` (default looks in `usr/` for runtimes). */
  files?: string;
  metadata?: string;
  runtime?: boolean;
  arch?: string;
  subject?: string;
  body?: string;
  collectionId?: string;
  timestamp?: string;
  endOfLife?: string;
  endOfLifeRebase?: string;
  tokenType?: number;
  noUpdateSummary?: boolean;
  updateAppstream?: boolean;
  disableFsync?: boolean;
  disableSandbox?: boolean;
  exclude?: string[];
  include?: string[];
}

export async function buildExport(
  repo: string,
  directory: string,
  branch: string | undefined,
  o: BuildExportOptions = {},
  opts?: ToolRunOptions,
): Promise<void> {
  const args = ['build-export'];
  if (o.files) args.push(`--files=${o.files}`);
  if (o.metadata) args.push(`--metadata=${o.metadata}`);
  if (o.runtime) args.push('--runtime');
  if (o.arch) args.push(`--arch=${o.arch}`);
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  if (o.body !== undefined) args.push(`--body=${o.body}`);
  if (o.collectionId) args.push(`--collection-id=${o.collectionId}`);
  if (o.timestamp) args.push(`--timestamp=${o.timestamp}`);
  if (o.endOfLife !== undefined) args.push(`--end-of-life=${o.endOfLife}`);
  if (o.endOfLifeRebase !== undefined) args.push(`--end-of-life-rebase=${o.endOfLifeRebase}`);
  if (o.tokenType !== undefined) args.push(`--token-type=${o.tokenType}`);
  if (o.noUpdateSummary) args.push('--no-update-summary');
  if (o.updateAppstream) args.push('--update-appstream');
  if (o.disableFsync) args.push('--disable-fsync');
  if (o.disableSandbox) args.push('--disable-sandbox');
  for (const p of o.exclude ?? []) args.push(`--exclude=${p}`);
  for (const p of o.include ?? []) args.push(`--include=${p}`);
  args.push(...gpgArgs(o), repo, directory);
  if (branch) args.push(branch);
  await flatpak(args, opts);
}

export interface BuildCommitFromOptions extends GpgOptions {
  srcRepo: string;
  /** Refs to commit; with none, every ref of the source repo. */
  refs?: string[];
  srcRef?: string;
  /** Re-verify every object from srcRepo (uploads from clients are untrusted). */
  untrusted?: boolean;
  force?: boolean;
  /** An ISO 8601 date or `NOW`. */
  timestamp?: string;
  endOfLife?: string;
  /** `OLDID=NEWID` pairs. */
  endOfLifeRebase?: string[];
  tokenType?: number;
  extraCollectionIds?: string[];
  subsets?: string[];
  subject?: string;
  body?: string;
  noUpdateSummary?: boolean;
  updateAppstream?: boolean;
  disableFsync?: boolean;
}

/** Copies commits from an upload/build repo into a published repo as new commits (with collection bindings). */
export async function buildCommitFrom(dest: string, o: BuildCommitFromOptions, opts?: ToolRunOptions): Promise<void> {
  const args = ['build-commit-from', `--src-repo=${o.srcRepo}`];
  if (o.srcRef) args.push(`--src-ref=${o.srcRef}`);
  if (o.untrusted) args.push('--untrusted');
  if (o.force) args.push('--force');
  if (o.timestamp) args.push(`--timestamp=${o.timestamp}`);
  if (o.endOfLife !== undefined) args.push(`--end-of-life=${o.endOfLife}`);
  for (const r of o.endOfLifeRebase ?? []) args.push(`--end-of-life-rebase=${r}`);
  if (o.tokenType !== undefined) args.push(`--token-type=${o.tokenType}`);
  for (const c of o.extraCollectionIds ?? []) args.push(`--extra-collection-id=${c}`);
  for (const s of o.subsets ?? []) args.push(`--subset=${s}`);
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  if (o.body !== undefined) args.push(`--body=${o.body}`);
  if (o.noUpdateSummary) args.push('--no-update-summary');
  if (o.updateAppstream) args.push('--update-appstream');
  if (o.disableFsync) args.push('--disable-fsync');
  args.push(...gpgArgs(o), dest, ...(o.refs ?? []));
  await flatpak(args, opts);
}

export interface BuildUpdateRepoOptions extends GpgOptions {
  title?: string;
  comment?: string;
  description?: string;
  homepage?: string;
  icon?: string;
  defaultBranch?: string;
  redirectUrl?: string;
  collectionId?: string;
  deployCollectionId?: boolean;
  /** A public key file that becomes the repo's default key (written into the summary metadata). */
  gpgImport?: string;
  generateStaticDeltas?: boolean;
  staticDeltaJobs?: number;
  staticDeltaIgnoreRefs?: string[];
  prune?: boolean;
  pruneDryRun?: boolean;
  /** -1 = whole history. */
  pruneDepth?: number;
  noUpdateSummary?: boolean;
  noUpdateAppstream?: boolean;
  noSummaryIndex?: boolean;
}

/** Regenerates appstream, static deltas and summary/summary.idx/summaries/; optionally prunes. */
export async function buildUpdateRepo(repo: string, o: BuildUpdateRepoOptions = {}, opts?: ToolRunOptions): Promise<void> {
  const args = ['build-update-repo'];
  if (o.title !== undefined) args.push(`--title=${o.title}`);
  if (o.comment !== undefined) args.push(`--comment=${o.comment}`);
  if (o.description !== undefined) args.push(`--description=${o.description}`);
  if (o.homepage !== undefined) args.push(`--homepage=${o.homepage}`);
  if (o.icon !== undefined) args.push(`--icon=${o.icon}`);
  if (o.defaultBranch !== undefined) args.push(`--default-branch=${o.defaultBranch}`);
  if (o.redirectUrl !== undefined) args.push(`--redirect-url=${o.redirectUrl}`);
  if (o.collectionId) args.push(`--collection-id=${o.collectionId}`);
  if (o.deployCollectionId) args.push('--deploy-collection-id');
  if (o.gpgImport) args.push(`--gpg-import=${o.gpgImport}`);
  if (o.generateStaticDeltas) args.push('--generate-static-deltas');
  if (o.staticDeltaJobs !== undefined) args.push(`--static-delta-jobs=${o.staticDeltaJobs}`);
  for (const p of o.staticDeltaIgnoreRefs ?? []) args.push(`--static-delta-ignore-ref=${p}`);
  if (o.prune) args.push('--prune');
  if (o.pruneDryRun) args.push('--prune-dry-run');
  if (o.pruneDepth !== undefined) args.push(`--prune-depth=${o.pruneDepth}`);
  if (o.noUpdateSummary) args.push('--no-update-summary');
  if (o.noUpdateAppstream) args.push('--no-update-appstream');
  if (o.noSummaryIndex) args.push('--no-summary-index');
  args.push(...gpgArgs(o), repo);
  await flatpak(args, opts);
}

/**
 * An isolated environment for one flatpak client or builder: its own HOME and
 * XDG dirs, so user installations, caches and ~/.config never leak between
 * builds, tests or the operator's account.
 */
export function isolatedEnv(root: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    PATH: base.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: `${root}/home`,
    XDG_DATA_HOME: `${root}/data`,
    XDG_CACHE_HOME: `${root}/cache`,
    XDG_CONFIG_HOME: `${root}/config`,
    XDG_STATE_HOME: `${root}/state`,
    // No session bus and no host installation config: flatpak must not talk to the system helper.
    FLATPAK_USER_DIR: `${root}/data/flatpak`,
    FLATPAK_SYSTEM_DIR: `${root}/system-flatpak`,
    FLATPAK_CONFIG_DIR: `${root}/etc-flatpak`,
    DBUS_SESSION_BUS_ADDRESS: 'disabled:',
  };
}

export interface FlatpakBuilderOptions extends GpgOptions {
  builddir: string;
  manifest: string;
  repo?: string;
  defaultBranch?: string;
  disableRofiles?: boolean;
  forceClean?: boolean;
  arch?: string;
  collectionId?: string;
  subject?: string;
  body?: string;
  tokenType?: number;
  stateDir?: string;
  disableDownload?: boolean;
  disableUpdates?: boolean;
  disableCache?: boolean;
  disableTests?: boolean;
  jobs?: number;
  /** Root of the isolated HOME/XDG dirs (see isolatedEnv). Required: a builder never uses the caller's home. */
  isolatedRoot: string;
  /** Extra variables on top of the isolated environment. */
  extraEnv?: Record<string, string>;
}

export async function flatpakBuilder(o: FlatpakBuilderOptions, opts: ToolRunOptions = {}): Promise<void> {
  const args: string[] = [];
  if (o.repo) args.push(`--repo=${o.repo}`);
  if (o.defaultBranch) args.push(`--default-branch=${o.defaultBranch}`);
  // rofiles-fuse needs FUSE, which containers and CI runners often lack.
  if (o.disableRofiles) args.push('--disable-rofiles-fuse');
  if (o.forceClean) args.push('--force-clean');
  if (o.arch) args.push(`--arch=${o.arch}`);
  if (o.collectionId) args.push(`--collection-id=${o.collectionId}`);
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  if (o.body !== undefined) args.push(`--body=${o.body}`);
  if (o.tokenType !== undefined) args.push(`--token-type=${o.tokenType}`);
  if (o.stateDir) args.push(`--state-dir=${o.stateDir}`);
  if (o.disableDownload) args.push('--disable-download');
  if (o.disableUpdates) args.push('--disable-updates');
  if (o.disableCache) args.push('--disable-cache');
  if (o.disableTests) args.push('--disable-tests');
  if (o.jobs !== undefined) args.push(`--jobs=${o.jobs}`);
  args.push(...gpgArgs(o), o.builddir, o.manifest);
  const env = { ...isolatedEnv(o.isolatedRoot), ...o.extraEnv, ...opts.env };
  await runTool('flatpak-builder', args, { ...opts, env });
}
