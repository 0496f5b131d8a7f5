// Typed wrappers over the `ostree` CLI (2022.x on Debian 12). Only flags that
// exist in that version are exposed. Output parsing is kept to what fmd uses.
import { runTool, ToolError, type RunToolOptions } from './exec.ts';

/** Options every wrapper passes through to the runner (timeouts, cancellation, log lines). */
export type ToolRunOptions = Pick<RunToolOptions, 'timeoutMs' | 'signal' | 'onLine' | 'env'>;

const OSTREE = 'ostree';

function ostree(repo: string, sub: string, args: string[], opts: ToolRunOptions = {}) {
  return runTool(OSTREE, [sub, `--repo=${repo}`, ...args], opts);
}

/** A commit id: 64 lowercase hex digits (SHA-256). */
export const COMMIT_RE = /^[0-9a-f]{64}$/;

export function assertCommitId(id: string): string {
  if (!COMMIT_RE.test(id)) throw new Error(`not an ostree commit id: ${JSON.stringify(id)}`);
  return id;
}

export interface InitOptions {
  /** `archive-z2` is the historical name of `archive`, the mode served over HTTP. */
  mode?: 'archive-z2' | 'archive' | 'bare' | 'bare-user' | 'bare-user-only';
  collectionId?: string;
}

export async function init(repo: string, o: InitOptions = {}, opts?: ToolRunOptions): Promise<void> {
  const args = [`--mode=${o.mode ?? 'archive-z2'}`];
  if (o.collectionId) args.push(`--collection-id=${o.collectionId}`);
  await ostree(repo, 'init', args, opts);
}

/** Refs in the repo (local refs only), e.g. `app/org.test.Hello/x86_64/stable`. */
export async function listRefs(repo: string, prefix?: string, opts?: ToolRunOptions): Promise<string[]> {
  // --list keeps the prefix in the output, so results are always full ref names.
  const { stdout } = await ostree(repo, 'refs', prefix ? ['--list', prefix] : [], opts);
  return stdout.split('\n').filter((l) => l.length > 0);
}

/** Refs with their collection ids as `(collection, ref)` pairs, for repos with a collection id. */
export async function listCollectionRefs(
  repo: string,
  opts?: ToolRunOptions,
): Promise<Array<{ collectionId: string; ref: string }>> {
  const { stdout } = await ostree(repo, 'refs', ['--collections'], opts);
  const out: Array<{ collectionId: string; ref: string }> = [];
  for (const line of stdout.split('\n')) {
    const m = /^\(([^,]+), (.+)\)$/.exec(line.trim());
    if (m) out.push({ collectionId: m[1]!, ref: m[2]! });
  }
  return out;
}

/** Points `ref` at an existing commit (the way upload repos get their refs; `ostree reset` cannot create one). */
/**
 * Checks a ref or commit out as plain files owned by us (`--user-mode --bareuseronly-dirs`),
 * merged into `dest` (`--union`): how publish and commit extract screenshots and appstream.
 */
export async function checkoutFiles(repo: string, rev: string, dest: string, opts?: ToolRunOptions): Promise<void> {
  await ostree(repo, 'checkout', ['--user-mode', '--bareuseronly-dirs', '--union', rev, dest], opts);
}

export async function createRef(
  repo: string,
  ref: string,
  commit: string,
  o: { force?: boolean } = {},
  opts?: ToolRunOptions,
): Promise<void> {
  const args = [`--create=${ref}`, assertCommitId(commit)];
  if (o.force) args.unshift('--force');
  await ostree(repo, 'refs', args, opts);
}

export async function deleteRef(repo: string, ref: string, opts?: ToolRunOptions): Promise<void> {
  // `refs --delete PREFIX` deletes by prefix: refuse anything that is not a whole ref.
  if (ref.endsWith('/') || ref.length === 0) throw new Error(`refusing to delete ref prefix ${ref}`);
  await ostree(repo, 'refs', ['--delete', ref], opts);
}

/** Resolves a ref (or commit prefix) to a full commit id; null when it does not exist. */
export async function revParse(repo: string, refOrCommit: string, opts?: ToolRunOptions): Promise<string | null> {
  try {
    const { stdout } = await ostree(repo, 'rev-parse', [refOrCommit], opts);
    return assertCommitId(stdout.trim());
  } catch (err) {
    if (err instanceof Error && 'reason' in err && err.reason === 'exit') return null;
    throw err;
  }
}

export interface FsckOptions {
  all?: boolean;
  quiet?: boolean;
  verifyBindings?: boolean;
  verifyBackRefs?: boolean;
}

/** Checks every object; throws a ToolError naming the bad object on a missing or corrupted one. */
export async function fsck(repo: string, o: FsckOptions = {}, opts?: ToolRunOptions): Promise<string> {
  const args: string[] = [];
  if (o.all) args.push('--all');
  if (o.quiet) args.push('--quiet');
  if (o.verifyBindings) args.push('--verify-bindings');
  if (o.verifyBackRefs) args.push('--verify-back-refs');
  return (await ostree(repo, 'fsck', args, opts)).stdout;
}

/**
 * `ostree fsck` that answers what it found instead of throwing: the problems it reported (its
 * `error:` lines and the objects they name, each once), empty for a healthy repo. A failure to run
 * it at all (missing tool, timeout, cancellation) still throws.
 */
export async function fsckProblems(repo: string, o: FsckOptions = {}, opts?: ToolRunOptions): Promise<string[]> {
  try {
    await fsck(repo, o, opts);
    return [];
  } catch (err) {
    if (!(err instanceof ToolError) || err.reason !== 'exit') throw err;
    const lines = err.stderr.split('\n').map((l) => l.replace(/^error:\s*/, '').trim()).filter((l) => l.length > 0);
    const problems = [...new Set(lines)];
    return problems.length ? problems : [`ostree fsck exited with status ${err.code}`];
  }
}

export interface ShowOptions {
  /** Verify signatures against keyrings in this GnuPG home (prints "Good signature" lines). */
  gpgHomedir?: string;
  printMetadataKey?: string;
  printDetachedMetadataKey?: string;
  raw?: boolean;
}

/** `ostree show`: human-readable commit text (and signature report when gpgHomedir is given). */
export async function show(repo: string, rev: string, o: ShowOptions = {}, opts?: ToolRunOptions): Promise<string> {
  const args: string[] = [];
  if (o.gpgHomedir) args.push(`--gpg-homedir=${o.gpgHomedir}`);
  if (o.printMetadataKey) args.push(`--print-metadata-key=${o.printMetadataKey}`);
  if (o.printDetachedMetadataKey) args.push(`--print-detached-metadata-key=${o.printDetachedMetadataKey}`);
  if (o.raw) args.push('--raw');
  args.push(rev);
  return (await ostree(repo, 'show', args, opts)).stdout;
}

export async function log(repo: string, rev: string, opts?: ToolRunOptions): Promise<string> {
  return (await ostree(repo, 'log', [rev], opts)).stdout;
}

/** Commit ids of `rev` and its ancestors still present in the repo, newest first. */
export async function commitIds(repo: string, rev: string, opts?: ToolRunOptions): Promise<string[]> {
  const text = await log(repo, rev, opts);
  const ids: string[] = [];
  for (const m of text.matchAll(/^commit ([0-9a-f]{64})$/gm)) ids.push(m[1]!);
  return ids;
}

/** `ostree summary --view` of the repo's current summary file. */
export async function summaryView(repo: string, opts?: ToolRunOptions): Promise<string> {
  return (await ostree(repo, 'summary', ['--view'], opts)).stdout;
}

/** A key of the repo's config (`core.mode`, `core.collection-id`); null when the repo has no such key. */
export async function configGet(repo: string, key: string, opts?: ToolRunOptions): Promise<string | null> {
  try {
    const { stdout } = await ostree(repo, 'config', ['get', key], opts);
    return stdout.trim();
  } catch (err) {
    if (err instanceof Error && 'reason' in err && err.reason === 'exit') return null;
    throw err;
  }
}
