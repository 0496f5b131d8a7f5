// OpenPGP signatures for ostree repos, made with openpgp.js (no gpg binary).
//
// ostree keeps detached signatures in GVariant `a{sv}` files whose
// `ostree.gpgsigs` entry is an `aay` of binary detached signatures over the
// exact bytes of the signed file:
//   objects/xx/<rest>.commitmeta        signs objects/xx/<rest>.commit
//   summary.sig                         signs summary
//   summary.idx.sig                     signs summary.idx
//   summaries/<sha256(summary.idx)>.idx.sig  the same, content-addressed; this is
//                                       the one flatpak 1.14 clients fetch
//
// THE SUMMARY RULE: no client may ever see a new summary without its signature.
// What `flatpak build-update-repo` (1.14) does, observed with strace:
//   1. writes summaries/<sha>.gz (sub-summaries) and <old>-<new>.delta files,
//   2. renames the new summary.idx into place, then unlinks summary.idx.sig,
//   3. renames the new summary into place, then unlinks summary.sig,
//   4. garbage-collects summaries/, keeping only the current and the previous
//      generation's .idx.sig.
// Signing after it therefore leaves a window in which the live summary.idx
// points at a summaries/<sha>.idx.sig that does not exist (clients fail with
// "no signatures found"). So fmd never lets build-update-repo write the live
// summary. updateSummarySigned() instead:
//   a. runs `flatpak build-update-repo --no-update-appstream` on a *staging*
//      repo: a directory inside the repo whose objects/, refs/, deltas/ ...
//      are symlinks to the live ones, with its own config copy, tmp/, and
//      hard-linked copies of summary, summary.idx and summaries/* (flatpak
//      reads the old index to make summary deltas). Nothing live is written.
//   b. signs the staged summary and summary.idx in memory,
//   c. installs into the live repo, each file via temp file + rename, in this
//      order: new summaries/*.gz and *.delta (content-addressed, unreferenced
//      until the new index is live) -> summaries/<new sha>.idx.sig ->
//      summary.idx.sig -> summary.idx -> summary.sig -> summary. Every
//      signature is in place before the file it signs, so whoever sees a new
//      summary(.idx) finds its signature. (A client that fetched summary.sig
//      just before and summary just after a swap sees a mismatch and retries;
//      with two plain files no order avoids that, but the content-addressed
//      summaries/ path, which flatpak clients use, has no window at all.)
//   d. keeps older summaries/*.idx.sig, *.gz and *.delta: a client that read
//      the previous summary.idx (possibly from a CDN cache) must still find its
//      signature and sub-summary. Only files flatpak itself would drop *and*
//      older than a grace period (default 3 days) are pruned; the current and
//      previous generation are never pruned.
// Run everything else build-update-repo does on the live repo with
// --no-update-summary *before* this: metadata options (--title, --comment, ...;
// verified to land in the repo config, which the staging copies) and appstream
// first, then sign the new commits, then --generate-static-deltas / --prune
// (static deltas embed the .commitmeta present when they are made).
import { randomBytes, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { parseVarDict, serializeVarDict, unwrap, variant, type VarDict } from '@fmd/sdk/ostree';
import { buildUpdateRepo } from './flatpak.ts';
import { assertCommitId, type ToolRunOptions } from './ostree.ts';

export const GPGSIGS_KEY = 'ostree.gpgsigs';

/** One binary detached signature per key over `data`, in key order. */
export async function signDetached(data: Uint8Array, keys: openpgp.PrivateKey[]): Promise<Uint8Array[]> {
  const message = await openpgp.createMessage({ binary: data });
  const out: Uint8Array[] = [];
  for (const key of keys) {
    // One key per call: ostree stores one signature per aay element, as gpg --detach-sign would.
    const sig = await openpgp.sign({ message, signingKeys: [key], detached: true, format: 'binary' });
    out.push(sig as Uint8Array);
  }
  return out;
}

/** The signatures in a detached-metadata file (empty when there are none). */
export function readGpgSignatures(fileBytes: Uint8Array): Uint8Array[] {
  if (fileBytes.length === 0) return [];
  const v = parseVarDict(fileBytes).get(GPGSIGS_KEY);
  return v ? (unwrap(v, 'aay') as Uint8Array[]) : [];
}

async function issuerKeyIds(sig: Uint8Array): Promise<string[]> {
  try {
    const s = await openpgp.readSignature({ binarySignature: sig });
    return s.getSigningKeyIDs().map((k) => k.toHex().toLowerCase());
  } catch {
    return []; // Unreadable signatures are kept as they are: they are not ours to judge.
  }
}

/**
 * Adds `newSigs` to a detached-metadata file's `ostree.gpgsigs`, keeping every
 * other entry untouched. Existing signatures by the same keys are replaced, so
 * re-running a signing job (jobs are at-least-once) does not pile them up.
 */
export async function mergeSignatures(
  existing: Uint8Array | null,
  newSigs: Uint8Array[],
  signingKeys: openpgp.PrivateKey[],
): Promise<Uint8Array> {
  const dict: VarDict = existing && existing.length > 0 ? parseVarDict(existing) : new Map();
  const old = dict.has(GPGSIGS_KEY) ? (unwrap(dict.get(GPGSIGS_KEY)!, 'aay') as Uint8Array[]) : [];
  const replacing = new Set(
    signingKeys.flatMap((k) => [k.getKeyID(), ...k.getSubkeys().map((s) => s.getKeyID())]).map((id) => id.toHex().toLowerCase()),
  );
  const kept: Uint8Array[] = [];
  for (const sig of old) {
    const ids = await issuerKeyIds(sig);
    if (!ids.some((id) => replacing.has(id))) kept.push(sig);
  }
  // Map.set on an existing key keeps its position, so entry order is preserved.
  dict.set(GPGSIGS_KEY, variant('aay', [...kept, ...newSigs]));
  return serializeVarDict(dict);
}

/** Writes `data` to `file` via a temp file in the same directory + fsync + rename: readers see old or new, never half. */
export async function writeFileAtomic(file: string, data: Uint8Array, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Places an existing file at `dest` atomically (hard link to a temp name + rename; copy across filesystems). */
async function installFileAtomic(src: string, dest: string): Promise<void> {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await link(src, tmp);
  } catch {
    await copyFile(src, tmp);
  }
  await rename(tmp, dest);
}

export function commitObjectPath(repoPath: string, commit: string, ext: 'commit' | 'commitmeta'): string {
  assertCommitId(commit);
  return path.join(repoPath, 'objects', commit.slice(0, 2), `${commit.slice(2)}.${ext}`);
}

/** Signs a commit object's exact bytes with every key and merges the signatures into its .commitmeta. */
export async function writeCommitSignatures(repoPath: string, commit: string, keys: openpgp.PrivateKey[]): Promise<void> {
  const commitBytes = await readFile(commitObjectPath(repoPath, commit, 'commit'));
  const metaPath = commitObjectPath(repoPath, commit, 'commitmeta');
  const existing = existsSync(metaPath) ? await readFile(metaPath) : null;
  const sigs = await signDetached(commitBytes, keys);
  await writeFileAtomic(metaPath, await mergeSignatures(existing, sigs, keys));
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A detached-metadata file holding exactly `sigs` (summary signatures are always made fresh). */
function signatureFile(sigs: Uint8Array[]): Uint8Array {
  return serializeVarDict(new Map([[GPGSIGS_KEY, variant('aay', sigs)]]));
}

/**
 * Signs the summary files already in place in `repoPath`: summary -> summary.sig,
 * summary.idx -> summaries/<sha>.idx.sig and summary.idx.sig (in that order).
 * Use this only for repos nobody is reading yet; live repos go through
 * updateSummarySigned(), which never exposes an unsigned summary.
 */
export async function signSummary(repoPath: string, keys: openpgp.PrivateKey[]): Promise<void> {
  const idxPath = path.join(repoPath, 'summary.idx');
  if (existsSync(idxPath)) {
    const idx = await readFile(idxPath);
    const sig = signatureFile(await signDetached(idx, keys));
    await mkdir(path.join(repoPath, 'summaries'), { recursive: true });
    await writeFileAtomic(path.join(repoPath, 'summaries', `${sha256Hex(idx)}.idx.sig`), sig);
    await writeFileAtomic(path.join(repoPath, 'summary.idx.sig'), sig);
  }
  const summaryPath = path.join(repoPath, 'summary');
  if (existsSync(summaryPath)) {
    const summary = await readFile(summaryPath);
    await writeFileAtomic(path.join(repoPath, 'summary.sig'), signatureFile(await signDetached(summary, keys)));
  }
}

// Files of the live repo that the staging repo must own instead of sharing.
const STAGING_PRIVATE = new Set(['summary', 'summary.idx', 'summary.sig', 'summary.idx.sig', 'summaries', 'tmp', '.lock', 'config']);
const STAGING_DIR = '.fmd-staging';

/**
 * Builds a staging repo inside `repoPath` (same filesystem, so hard links and
 * renames work) that shares objects/refs/deltas with the live repo through
 * symlinks and owns its summary files. Returns its path.
 */
export async function createSummaryStaging(repoPath: string): Promise<string> {
  const stagingRoot = path.join(repoPath, STAGING_DIR);
  const staging = path.join(stagingRoot, `summary-${Date.now()}-${randomBytes(4).toString('hex')}`);
  await mkdir(path.join(staging, 'summaries'), { recursive: true });
  await mkdir(path.join(staging, 'tmp'));
  for (const entry of await readdir(repoPath)) {
    if (entry === STAGING_DIR || STAGING_PRIVATE.has(entry)) continue;
    await symlink(path.join('..', '..', entry), path.join(staging, entry));
  }
  await copyFile(path.join(repoPath, 'config'), path.join(staging, 'config'));
  for (const f of ['summary', 'summary.idx']) {
    if (existsSync(path.join(repoPath, f))) await link(path.join(repoPath, f), path.join(staging, f));
  }
  const liveSummaries = path.join(repoPath, 'summaries');
  if (existsSync(liveSummaries)) {
    for (const f of await readdir(liveSummaries)) {
      if (f.startsWith('.')) continue;
      await link(path.join(liveSummaries, f), path.join(staging, 'summaries', f));
    }
  }
  return staging;
}

export interface InstallSummaryOptions {
  /** summaries/ files older than this that flatpak no longer references may be pruned. Default 3 days. */
  graceSeconds?: number;
  now?: Date;
}

/**
 * Moves a staged summary generation into the live repo, signatures first (see
 * the order at the top of this file), then prunes very old summaries/ files.
 */
export async function installStagedSummary(
  repoPath: string,
  staging: string,
  keys: openpgp.PrivateKey[],
  o: InstallSummaryOptions = {},
): Promise<{ indexSha: string | null }> {
  const liveSummaries = path.join(repoPath, 'summaries');
  await mkdir(liveSummaries, { recursive: true });
  const stagedIdxPath = path.join(staging, 'summary.idx');
  const stagedSummaryPath = path.join(staging, 'summary');
  const idx = existsSync(stagedIdxPath) ? await readFile(stagedIdxPath) : null;
  const summary = existsSync(stagedSummaryPath) ? await readFile(stagedSummaryPath) : null;
  const liveIdxPath = path.join(repoPath, 'summary.idx');
  const previousIdxSha = existsSync(liveIdxPath) ? sha256Hex(await readFile(liveIdxPath)) : null;
  const newIdxSha = idx ? sha256Hex(idx) : null;

  // Sign before touching anything live: a signing failure leaves the repo as it was.
  const idxSig = idx && keys.length > 0 ? signatureFile(await signDetached(idx, keys)) : null;
  const summarySig = summary && keys.length > 0 ? signatureFile(await signDetached(summary, keys)) : null;

  // 1. New content-addressed sub-summaries and summary deltas: invisible until the index names them.
  const staged = new Set((await readdir(path.join(staging, 'summaries'))).filter((f) => !f.startsWith('.')));
  const live = new Set((await readdir(liveSummaries)).filter((f) => !f.startsWith('.')));
  for (const f of staged) {
    if (!live.has(f) && !f.endsWith('.idx.sig')) await installFileAtomic(path.join(staging, 'summaries', f), path.join(liveSummaries, f));
  }
  // 2. The signature of the new index under its content address, then 3. the index itself.
  if (idx) {
    if (idxSig) {
      await writeFileAtomic(path.join(liveSummaries, `${newIdxSha}.idx.sig`), idxSig);
      await writeFileAtomic(path.join(repoPath, 'summary.idx.sig'), idxSig);
    } else {
      await rm(path.join(repoPath, 'summary.idx.sig'), { force: true });
    }
    await installFileAtomic(stagedIdxPath, liveIdxPath);
  }
  // 4. The compat summary for old clients: signature, then summary.
  if (summary) {
    if (summarySig) await writeFileAtomic(path.join(repoPath, 'summary.sig'), summarySig);
    else await rm(path.join(repoPath, 'summary.sig'), { force: true });
    await installFileAtomic(stagedSummaryPath, path.join(repoPath, 'summary'));
  }
  // 5. Prune what flatpak dropped from the staging copy, but only when very old.
  const keep = new Set([previousIdxSha, newIdxSha].filter((s): s is string => s !== null));
  const graceMs = (o.graceSeconds ?? 3 * 24 * 3600) * 1000;
  const now = (o.now ?? new Date()).getTime();
  for (const f of live) {
    const sigOf = /^([0-9a-f]{64})\.idx\.sig$/.exec(f);
    // Signatures follow fmd's policy (flatpak keeps only two generations); sub-summaries follow flatpak's.
    if (sigOf ? keep.has(sigOf[1]!) : staged.has(f)) continue;
    const p = path.join(liveSummaries, f);
    const st = await stat(p).catch(() => null);
    if (st && now - st.mtimeMs > graceMs) await unlink(p).catch(() => {});
  }
  return { indexSha: newIdxSha };
}

export interface UpdateSummaryOptions extends InstallSummaryOptions {
  run?: ToolRunOptions;
}

/**
 * Regenerates summary, summary.idx and summaries/ for a live repo and installs
 * them signed with `keys` (or unsigned with no keys) without ever exposing an
 * unsigned generation. Call after the repo's refs, commit signatures, deltas
 * and appstream are final.
 */
export async function updateSummarySigned(
  repoPath: string,
  keys: openpgp.PrivateKey[],
  o: UpdateSummaryOptions = {},
): Promise<{ indexSha: string | null }> {
  const staging = await createSummaryStaging(repoPath);
  try {
    await buildUpdateRepo(staging, { noUpdateAppstream: true }, o.run);
    return await installStagedSummary(repoPath, staging, keys, o);
  } finally {
    // rm does not follow the symlinks into the live repo.
    await rm(staging, { recursive: true, force: true });
    await rmdir(path.join(repoPath, STAGING_DIR)).catch(() => {}); // fails while another staging is in use: fine
  }
}
