// Reading a local OSTree repo straight from disk (Node only): its mode and refs, the objects a
// commit needs, and its static deltas. This is what a client pushing to flat-manager or fmd
// reads; flat-manager-client does the same through libostree (RepoCommitTraverseIter,
// list_refs, list_static_delta_names), which a Node program cannot load.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, type GValue } from './gvariant.ts';

/** A commit checksum: 64 lowercase hex digits. */
export const CHECKSUM_RE = /^[0-9a-f]{64}$/;

export const COMMIT_TYPE = '(a{sv}aya(say)sstayay)';
export const DIRTREE_TYPE = '(a(say)a(sayay))';

/** `objects/<2>/<rest>` of an object name such as `<sha256>.dirtree`. */
export const objectPath = (repo: string, name: string): string => path.join(repo, 'objects', name.slice(0, 2), name.slice(2));

const hex = (b: GValue) => Buffer.from(b as Uint8Array).toString('hex');

/** A dirtree's entries: files (name, content checksum) and subdirectories (name, tree and meta checksums). */
export type Dirtree = { files: Array<{ name: string; checksum: string }>; dirs: Array<{ name: string; tree: string; meta: string }> };

export async function readDirtree(repo: string, checksum: string): Promise<Dirtree> {
  const [files, dirs] = parse(DIRTREE_TYPE, await readFile(objectPath(repo, `${checksum}.dirtree`))) as [GValue[][], GValue[][]];
  return {
    files: files.map(([name, csum]) => ({ name: name as string, checksum: hex(csum!) })),
    dirs: dirs.map(([name, tree, meta]) => ({ name: name as string, tree: hex(tree!), meta: hex(meta!) })),
  };
}

/** A commit's root: its tree and that tree's dirmeta. */
export async function readCommitRoot(repo: string, commit: string): Promise<{ tree: string; meta: string }> {
  const [, , , , , , tree, meta] = parse(COMMIT_TYPE, await readFile(objectPath(repo, `${commit}.commit`))) as GValue[];
  return { tree: hex(tree!), meta: hex(meta!) };
}

/**
 * flat-manager-client's local_needed_metadata: the commits, and every dirtree and dirmeta under
 * them. Subtrees are read concurrently; a tree already seen is not walked again.
 */
export async function localNeededMetadata(repo: string, commits: Iterable<string>): Promise<string[]> {
  const objects = new Set<string>();
  const walk = async (tree: string, meta: string): Promise<void> => {
    objects.add(`${meta}.dirmeta`);
    if (objects.has(`${tree}.dirtree`)) return;
    objects.add(`${tree}.dirtree`);
    await Promise.all((await readDirtree(repo, tree)).dirs.map((d) => walk(d.tree, d.meta)));
  };
  await Promise.all(
    [...new Set(commits)].map(async (commit) => {
      objects.add(`${commit}.commit`);
      const root = await readCommitRoot(repo, commit);
      await walk(root.tree, root.meta);
    }),
  );
  return [...objects];
}

/** flat-manager-client's local_needed_files: the files directly in the given dirtrees (other names are skipped). */
export async function localNeededFiles(repo: string, metadata: readonly string[]): Promise<string[]> {
  const files = new Set<string>();
  const trees = metadata.filter((name) => name.endsWith('.dirtree'));
  for (const tree of await Promise.all(trees.map((name) => readDirtree(repo, name.slice(0, -'.dirtree'.length))))) {
    for (const f of tree.files) files.add(`${f.checksum}.filez`);
  }
  return [...files];
}

/** Every object a commit needs, metadata and files apart. */
export async function commitObjects(repo: string, commit: string): Promise<{ metadata: string[]; files: string[] }> {
  const metadata = await localNeededMetadata(repo, [commit]);
  return { metadata, files: await localNeededFiles(repo, metadata) };
}

// --- the repo itself -------------------------------------------------------------------------------

/** `core.mode` of the repo's config (`archive-z2`, `archive`, `bare`, `bare-user`, `bare-user-only`, `bare-split-xattrs`). */
export async function readRepoMode(repo: string): Promise<string> {
  const config = await readFile(path.join(repo, 'config'), 'utf8');
  let section = '';
  for (const line of config.split('\n')) {
    const s = /^\s*\[([^\]]+)\]\s*$/.exec(line);
    if (s) section = s[1]!;
    const kv = /^\s*mode\s*=\s*(\S+)\s*$/.exec(line);
    if (kv && section === 'core') return kv[1]!;
  }
  return 'bare';
}

/** Whether the repo stores files as `.filez` (what the upload protocol sends). */
export const isArchiveMode = (mode: string): boolean => mode === 'archive' || mode === 'archive-z2';

/** Every local ref (`refs/heads/**`) and its commit, sorted by name. */
export async function readRefs(repo: string): Promise<Array<{ ref: string; commit: string }>> {
  const heads = path.join(repo, 'refs', 'heads');
  let entries: string[];
  try {
    entries = (await readdir(heads, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => path.relative(heads, path.join(d.parentPath, d.name)));
  } catch {
    return [];
  }
  const out: Array<{ ref: string; commit: string }> = [];
  for (const ref of entries) {
    const commit = (await readFile(path.join(heads, ref), 'utf8').catch(() => '')).trim();
    if (CHECKSUM_RE.test(commit)) out.push({ ref: ref.split(path.sep).join('/'), commit });
  }
  return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}

/**
 * The commit a rev names, as libostree's resolve_rev does for local repos: a full checksum of a
 * commit the repo has, a local ref (`refs/heads`), or `remote:ref` (`refs/remotes`). Null when
 * nothing matches.
 */
export async function resolveRev(repo: string, rev: string): Promise<string | null> {
  if (CHECKSUM_RE.test(rev)) return existsSync(objectPath(repo, `${rev}.commit`)) ? rev : null;
  if (rev.split(/[/:]/).some((part) => part === '..' || part === '.')) return null;
  const colon = rev.indexOf(':');
  const file = colon > 0 ? path.join(repo, 'refs', 'remotes', rev.slice(0, colon), rev.slice(colon + 1)) : path.join(repo, 'refs', 'heads', rev);
  const commit = (await readFile(file, 'utf8').catch(() => '')).trim();
  return CHECKSUM_RE.test(commit) ? commit : null;
}

// --- static deltas ---------------------------------------------------------------------------------

/** A delta name part as ostree writes it: the checksum's bytes in base64 with `_` for `/`, no padding. */
export const deltaNamePart = (checksum: string): string => Buffer.from(checksum, 'hex').toString('base64').replaceAll('/', '_').replace(/=$/, '');
/** flat-manager-client's delta_name_encode: `[<from>-]<to>` in hex to the on-disk name. */
export const deltaNameEncode = (delta: string): string => delta.split('-').map(deltaNamePart).join('-');
const deltaNameDecodePart = (part: string) => Buffer.from(part.replaceAll('_', '/'), 'base64').toString('hex');

/** libostree's list_static_delta_names: `deltas/<2>/<rest>` directories with a superblock, as `[<from>-]<to>` in hex. */
export async function listStaticDeltaNames(repo: string): Promise<string[]> {
  const names: string[] = [];
  const top = path.join(repo, 'deltas');
  if (!existsSync(top)) return names;
  for (const a of await readdir(top)) {
    if (a.length !== 2) continue;
    for (const rest of await readdir(path.join(top, a))) {
      if (!existsSync(path.join(top, a, rest, 'superblock'))) continue;
      names.push(`${a}${rest}`.split('-').map(deltaNameDecodePart).join('-'));
    }
  }
  return names;
}

/** The files of a static delta as flat-manager uploads them: part name `<encoded name>.<file>.delta` and the path. */
export async function staticDeltaFiles(repo: string, delta: string): Promise<Array<{ name: string; path: string }>> {
  const name = deltaNameEncode(delta);
  const dir = path.join(repo, 'deltas', name.slice(0, 2), name.slice(2));
  return (await readdir(dir)).map((part) => ({ name: `${name}.${part}.delta`, path: path.join(dir, part) }));
}

/** Python's fnmatch for `*` and `?` (what flat-manager-client's --ignore-delta globs use). */
export const fnmatch = (name: string, glob: string): boolean =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`).test(name);

/**
 * flat-manager-client's upload_deltas choice: for each app/runtime ref (4 parts, its id not
 * matching an `ignoreDelta` glob), the from-scratch delta to its commit, if the repo has one.
 */
export async function deltasToUpload(repo: string, refs: Record<string, string>, ignoreDelta: readonly string[] = []): Promise<Array<{ name: string; path: string }>> {
  const deltas = await listStaticDeltaNames(repo);
  if (!deltas.length) return [];
  const files: Array<{ name: string; path: string }> = [];
  for (const [ref, commit] of Object.entries(refs)) {
    const parts = ref.split('/');
    if (parts.length !== 4 || (parts[0] !== 'app' && parts[0] !== 'runtime') || ignoreDelta.some((g) => fnmatch(parts[1]!, g))) continue;
    for (const delta of deltas) if (delta === commit) files.push(...(await staticDeltaFiles(repo, delta)));
  }
  return files;
}
