// Reads refs and commit facts straight from an archive repo on disk: no `ostree` process per
// ref, so listing a repo with thousands of refs, or checking a download's token type, is cheap.
// Commit objects are immutable, so their parsed facts are cached by checksum.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, readRefs, unwrap, type GValue, type RawVariant } from '@fmd/sdk/ostree';
import { COMMIT_RE } from '../../ostree/ostree.ts';

export type CommitInfo = {
  commit: string;
  parent: string | null;
  subject: string;
  body: string;
  timestamp: Date;
  /** refs the commit is bound to (`ostree.ref-binding`) */
  refBindings: string[];
  collectionId: string | null;
  endOfLife: string | null;
  endOfLifeRebase: string | null;
  /** flatpak's `xa.token-type`; 0 when absent */
  tokenType: number;
  installedSize: bigint | null;
  downloadSize: bigint | null;
};

export type RefInfo = CommitInfo & { ref: string };

const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Parses a commit object's bytes (ostree stores the timestamp big-endian). */
export function parseCommit(commit: string, bytes: Uint8Array): CommitInfo {
  const [meta, parent, , subject, body, ts] = parse(COMMIT_TYPE, bytes) as [GValue[], Uint8Array, GValue, string, string, bigint];
  const dict = new Map<string, RawVariant>();
  for (const e of meta) {
    const [k, v] = e as [string, RawVariant];
    dict.set(k, v);
  }
  const str = (k: string) => {
    const v = dict.get(k);
    return v && v.type === 's' ? (unwrap(v, 's') as string) : null;
  };
  // flatpak writes the sizes big-endian (GUINT64_TO_BE) and the token type little-endian.
  const size = (k: string) => {
    const v = dict.get(k);
    return v && v.type === 't' && v.bytes.length === 8 ? Buffer.from(v.bytes).readBigUInt64BE(0) : null;
  };
  const tokenVar = dict.get('xa.token-type');
  const bindings = dict.get('ostree.ref-binding');
  const tsBytes = Buffer.alloc(8);
  tsBytes.writeBigUInt64LE(ts);
  return {
    commit,
    parent: parent.length === 32 ? hex(parent) : null,
    subject,
    body,
    timestamp: new Date(Number(tsBytes.readBigUInt64BE(0)) * 1000),
    refBindings: bindings && bindings.type === 'as' ? (unwrap(bindings, 'as') as string[]) : [],
    collectionId: str('ostree.collection-binding'),
    endOfLife: str('ostree.endoflife'),
    endOfLifeRebase: str('ostree.endoflife-rebase'),
    tokenType: tokenVar && tokenVar.type === 'i' ? (unwrap(tokenVar, 'i') as number) : 0,
    installedSize: size('xa.installed-size'),
    downloadSize: size('xa.download-size'),
  };
}

const cache = new Map<string, CommitInfo>();
const CACHE_MAX = 20_000;

export async function readCommit(repoPath: string, commit: string): Promise<CommitInfo | null> {
  if (!COMMIT_RE.test(commit)) return null;
  const hit = cache.get(commit);
  if (hit) return hit;
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(repoPath, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`));
  } catch {
    return null;
  }
  const info = parseCommit(commit, bytes);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(commit, info);
  return info;
}

/** Every local ref and its commit (read by the SDK's repo reader, which `fmdc push` uses too). */
export { readRefs };

export async function readRefInfos(repoPath: string): Promise<RefInfo[]> {
  const out: RefInfo[] = [];
  for (const { ref, commit } of await readRefs(repoPath)) {
    const info = await readCommit(repoPath, commit);
    if (info) out.push({ ...info, ref });
  }
  return out;
}

/** ostree's modified base64 (`_` for `/`, no padding) of a 32-byte checksum, as delta paths use. */
function fromModifiedBase64(s: string): string | null {
  if (!/^[A-Za-z0-9+_]{43}$/.test(s)) return null;
  const b = Buffer.from(s.replaceAll('_', '/'), 'base64');
  return b.length === 32 ? b.toString('hex') : null;
}

/**
 * The commit a static delta path leads to: `deltas/<2>/<41>[/...]` (from scratch) or
 * `deltas/<2>/<41>-<43>[/...]` (from another commit). Null for anything else.
 */
export function deltaTargetCommit(relPath: string): string | null {
  const m = /^deltas\/([A-Za-z0-9+_]{2})\/([A-Za-z0-9+_-]+)(?:\/|$)/.exec(relPath);
  if (!m) return null;
  const name = m[1]! + m[2]!;
  const dash = name.indexOf('-');
  return fromModifiedBase64(dash === -1 ? name : name.slice(dash + 1));
}

/** Both commits of a static delta path: `to` (deltaTargetCommit), and `from` unless it is a delta from scratch. */
export function deltaCommits(relPath: string): { from: string | null; to: string } | null {
  const to = deltaTargetCommit(relPath);
  if (!to) return null;
  const m = /^deltas\/([A-Za-z0-9+_]{2})\/([A-Za-z0-9+_]+)-/.exec(relPath);
  if (!m) return relPath.slice('deltas/'.length).split('/')[1]!.includes('-') ? null : { from: null, to };
  const from = fromModifiedBase64(m[1]! + m[2]!);
  return from ? { from, to } : null;
}
