// Finding and reading the flatpak-builder manifest of a git build. The checkout is untrusted: a
// path from the user or a symlink in the repository must not lead fmd to read files outside it,
// and a manifest is only data here (flatpak-builder, in the jail, is what acts on it).
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '../../errors.ts';
import { isValidAppId } from '../../repos/validate.ts';

export interface ManifestInfo {
  appId: string;
  runtime: string;
  runtimeVersion: string | null;
  sdk: string;
  /** The manifest's `branch`: it wins over `--default-branch` and `default-branch`. */
  branch: string | null;
  /** The manifest's `default-branch`: used only when neither `branch` nor `--default-branch` is given. */
  defaultBranch: string | null;
  sdkExtensions: string[];
  base: string | null;
  baseVersion: string | null;
  buildRuntime: boolean;
  buildExtension: boolean;
}

const MANIFEST_EXTS = ['.yml', '.yaml', '.json'];
/** Real manifests are kilobytes; anything this big is not one and is not worth parsing. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_LISTED = 20;

function isManifestName(name: string): boolean {
  return MANIFEST_EXTS.includes(path.extname(name).toLowerCase());
}

async function realInside(root: string, rel: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(path.join(root, rel));
  } catch {
    return null;
  }
  return real === root || real.startsWith(root + path.sep) ? real : null;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * The manifest of `checkout`, as a path relative to it. A given `path` must exist inside the
 * checkout; otherwise `<appId>.yml|yaml|json` at the root; otherwise the one manifest found at
 * the root or one directory down. None or several: an InvalidInputError that lists what was seen.
 */
export async function findManifest(checkout: string, o: { path?: string | null; appId?: string | null }): Promise<string> {
  const root = await realpath(checkout);
  if (o.path != null && o.path !== '') {
    const rel = path.posix.normalize(o.path.replace(/\\/g, '/'));
    if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../') || rel.split('/').includes('..')) {
      throw new InvalidInputError(`the manifest path ${JSON.stringify(o.path)} leaves the repository`, 'manifestPath');
    }
    if (!isManifestName(rel)) {
      throw new InvalidInputError(`the manifest path ${JSON.stringify(o.path)} is not a .yml, .yaml or .json file`, 'manifestPath');
    }
    const real = await realInside(root, rel);
    if (real === null) {
      // A symlink that resolves outside the checkout reads the same as a missing file: say neither more.
      throw new InvalidInputError(`the manifest ${rel} is not in the repository (or points outside it)`, 'manifestPath');
    }
    if (!(await isFile(real))) throw new InvalidInputError(`the manifest ${rel} is not a file`, 'manifestPath');
    return rel;
  }
  if (o.appId) {
    for (const ext of MANIFEST_EXTS) {
      const rel = `${o.appId}${ext}`;
      const real = await realInside(root, rel);
      if (real && (await isFile(real))) return rel;
    }
  }
  const found = await scanManifests(root);
  const matching = o.appId ? found.filter((m) => m.appId === o.appId) : found;
  const pick = matching.length > 0 ? matching : found;
  if (pick.length === 1) return pick[0]!.rel;
  const wanted = o.appId ? ` for ${o.appId}` : '';
  if (pick.length === 0) {
    throw new InvalidInputError(
      `no flatpak-builder manifest${wanted} found: looked for ${o.appId ? `${o.appId}.yml|yaml|json, then ` : ''}` +
        '.yml/.yaml/.json files with an app id and modules at the root and one directory down; give the manifest path',
      'manifestPath',
    );
  }
  const names = pick.map((m) => m.rel);
  const listed = names.slice(0, MAX_LISTED).join(', ') + (names.length > MAX_LISTED ? `, and ${names.length - MAX_LISTED} more` : '');
  throw new InvalidInputError(`several flatpak-builder manifests${wanted} found (${listed}): give the manifest path`, 'manifestPath');
}

async function scanManifests(root: string): Promise<Array<{ rel: string; appId: string }>> {
  const out: Array<{ rel: string; appId: string }> = [];
  const visit = async (relDir: string, depth: number) => {
    const entries = await readdir(path.join(root, relDir), { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      // Symlinks are skipped, not followed: discovery never reads outside the checkout.
      if (e.isDirectory() && depth === 0) await visit(rel, 1);
      else if (e.isFile() && isManifestName(e.name)) {
        const info = await readManifest(path.join(root, rel)).catch(() => null);
        if (info) out.push({ rel, appId: info.appId });
      }
    }
  };
  await visit('', 0);
  return out;
}

/** Reads and checks a manifest (YAML, or JSON for `.json`). Throws InvalidInputError naming the file and the problem. */
export async function readManifest(file: string): Promise<ManifestInfo> {
  const name = path.basename(file);
  const bad = (why: string) => new InvalidInputError(`manifest ${name}: ${why}`, 'manifest');
  const st = await lstat(file).catch(() => null);
  if (!st || !st.isFile()) throw bad('not found');
  if (st.size > MAX_MANIFEST_BYTES) throw bad(`larger than ${MAX_MANIFEST_BYTES} bytes`);
  const text = await readFile(file, 'utf8');
  let doc: unknown;
  try {
    // logLevel error: the yaml library's warnings (an unknown tag, ...) about a user's file would
    // go to the process's stderr as Node warnings; its errors are thrown and answered here.
    doc = path.extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { logLevel: 'error' });
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw bad(`cannot be parsed: ${msg}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('is not a mapping of keys to values');
  const m = doc as Record<string, unknown>;

  const str = (key: string, required: boolean): string | null => {
    const v = m[key];
    if (v === undefined || v === null) {
      if (required) throw bad(`"${key}" is missing`);
      return null;
    }
    // YAML reads `runtime-version: 1` as a number; flatpak-builder means the string.
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v !== 'string' || v.length === 0) throw bad(`"${key}" must be a non-empty string`);
    return v;
  };
  const bool = (key: string): boolean => {
    const v = m[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw bad(`"${key}" must be true or false`);
    return v;
  };

  if (m.id !== undefined && m['app-id'] !== undefined && m.id !== m['app-id']) throw bad('"id" and "app-id" differ');
  const appId = str('id', false) ?? str('app-id', false);
  if (!appId) throw bad('has no "id" (or "app-id")');
  if (!isValidAppId(appId)) throw bad(`"${appId}" is not a valid app id`);
  const runtime = str('runtime', true)!;
  if (!isValidAppId(runtime)) throw bad(`runtime "${runtime}" is not a valid runtime id`);
  const sdk = str('sdk', true)!;
  if (!isValidAppId(sdk)) throw bad(`sdk "${sdk}" is not a valid runtime id`);
  const branchRe = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
  const version = (key: string) => {
    const v = str(key, false);
    if (v !== null && !branchRe.test(v)) throw bad(`"${key}" ${JSON.stringify(v)} is not a valid branch`);
    return v;
  };
  const runtimeVersion = version('runtime-version');
  const branch = version('branch');
  const defaultBranch = version('default-branch');
  const baseVersion = version('base-version');
  const base = str('base', false);
  if (base !== null && !isValidAppId(base)) throw bad(`base "${base}" is not a valid app id`);

  const exts = m['sdk-extensions'] ?? [];
  if (!Array.isArray(exts) || !exts.every((e) => typeof e === 'string' && isValidAppId(e))) {
    throw bad('"sdk-extensions" must be a list of extension ids');
  }
  if (!Array.isArray(m.modules)) throw bad('"modules" must be a list');

  return {
    appId,
    runtime,
    runtimeVersion,
    sdk,
    branch,
    defaultBranch,
    sdkExtensions: exts as string[],
    base,
    baseVersion,
    buildRuntime: bool('build-runtime'),
    buildExtension: bool('build-extension'),
  };
}
