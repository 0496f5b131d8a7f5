// The app catalog: the apps a repo holds, read from the appstream data that `flatpak
// build-update-repo` writes into the repo (the `appstream2/<arch>` refs: appstream.xml and
// icons/<size>/<id>.png). It is read on demand and cached per repo, keyed by the commits of those
// refs: every process reads the same refs on disk, so all of them answer the same, and a new
// update-repo (new appstream commits) is seen by the next request. Visibility: the repo's (the
// token's repos) and the app id's (the token's prefixes and apps), as for builds.
import { isFmdAdmin } from '../users/access.ts';
import { grantsAllow } from '../users/roles.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import type { Logger } from 'pino';
import type { Prisma } from '../../generated/prisma/client.ts';
import * as ostree from '../../ostree/ostree.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors.ts';
import { visibleBuildsWhere } from '../builds/access.ts';
import { readCommit, readRefs, type RefInfo } from '../repos/commits.ts';
import type { RepoService } from '../repos/service.ts';
import { isValidAppId } from '../repos/validate.ts';
import { appAllowed } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

export type CatalogRelease = { version: string; date: string | null; description: string | null };
export type CatalogScreenshot = { url: string; caption: string | null; isDefault: boolean };
export type CatalogApp = {
  id: string;
  /** app, runtime (from the flatpak bundle ref) */
  kind: string;
  name: string;
  summary: string | null;
  /** plain text: paragraphs separated by a blank line, list items starting with "• " */
  description: string | null;
  developer: string | null;
  license: string | null;
  homepage: string | null;
  releases: CatalogRelease[];
  screenshots: CatalogScreenshot[];
  /** arches whose appstream lists the app */
  arches: string[];
  /** the cached icon's size in pixels, when the appstream has one */
  iconSize: number | null;
};

export type CatalogRef = RefInfo & { kind: string; id: string; arch: string; branch: string };

/** What one repo's appstream says, for one set of appstream commits. */
type Loaded = { key: string; apps: Map<string, CatalogApp>; icons: Map<string, Buffer> };

export const MAX_SEARCH_LENGTH = 200;
const ICON_SIZES = ['128x128', '64x64'];

export class CatalogService {
  private readonly repos: RepoService;
  private readonly log: Logger;
  private readonly tmpDir: string;
  private readonly cache = new Map<string, Loaded>();
  private readonly loading = new Map<string, Promise<Loaded>>();

  constructor(deps: { repos: RepoService; log: Logger; tmpDir: string }) {
    this.repos = deps.repos;
    this.log = deps.log;
    this.tmpDir = deps.tmpDir;
  }

  /** The apps of a repo the viewer may see, by id; `search` matches id, name, summary and developer (any case). Null: no such repo for the viewer. */
  async apps(viewer: Viewer, repo: string, search?: string | null): Promise<CatalogApp[] | null> {
    const words = parseSearch(search);
    if (!(await this.visibleRepo(viewer, repo))) return null;
    const loaded = await this.load(repo);
    const out: CatalogApp[] = [];
    for (const app of loaded.apps.values()) {
      if (!this.appVisible(viewer, repo, app.id)) continue;
      const text = [app.id, app.name, app.summary ?? '', app.developer ?? ''].join('\n').toLowerCase();
      if (words.every((w) => text.includes(w))) out.push(app);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** One app of a repo; null when the repo or the app is unknown or not the viewer's to see. */
  async app(viewer: Viewer, repo: string, id: string): Promise<CatalogApp | null> {
    checkAppId(id);
    if (!(await this.visibleRepo(viewer, repo))) return null;
    if (!this.appVisible(viewer, repo, id)) return null;
    return (await this.load(repo)).apps.get(id) ?? null;
  }

  /** The app's cached icon (PNG); null as `app` answers null, or when it has none. */
  async icon(viewer: Viewer, repo: string, id: string): Promise<Buffer | null> {
    if (!(await this.app(viewer, repo, id))) return null;
    return (await this.load(repo)).icons.get(id) ?? null;
  }

  /** The app's refs in the repo (every branch and arch), with sizes and end-of-life from their commits. */
  async refs(repo: string, app: CatalogApp): Promise<CatalogRef[]> {
    const prefix = `${app.kind}/${app.id}/`;
    const dir = this.repos.repoPath(repo);
    const out: CatalogRef[] = [];
    // Only this app's commits are read (each once per process: readCommit caches them).
    for (const { ref, commit } of await readRefs(dir)) {
      const parts = ref.split('/');
      if (!ref.startsWith(prefix) || parts.length !== 4) continue;
      const info = await readCommit(dir, commit);
      if (info) out.push({ ...info, ref, kind: parts[0]!, id: parts[1]!, arch: parts[2]!, branch: parts[3]! });
    }
    return out.sort((a, b) => a.ref.localeCompare(b.ref));
  }

  /** Builds of the app published into the repo that the viewer may read, newest first. */
  publishedBuildsWhere(viewer: Viewer, repoName: string, app: CatalogApp): Prisma.BuildWhereInput | null {
    let visible: Prisma.BuildWhereInput;
    try {
      visible = visibleBuildsWhere(viewer);
    } catch (err) {
      if (err instanceof ForbiddenError) return null;
      throw err;
    }
    return {
      AND: [
        { repo: { name: repoName }, publishedState: 'PUBLISHED' },
        { OR: [{ appId: app.id }, { refs: { some: { refName: { startsWith: `${app.kind}/${app.id}/` } } } }] },
        visible,
      ],
    };
  }

  private async visibleRepo(viewer: Viewer, repo: string): Promise<boolean> {
    if (typeof repo !== 'string' || repo.length > 64) throw new InvalidInputError('repo: at most 64 characters', 'repo');
    try {
      await this.repos.getVisible(viewer, repo);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** The token's prefixes or apps allow the id, and for a user's token one of its roles on the repo does too. */
  private appVisible(viewer: Viewer, repo: string, id: string): boolean {
    return isFmdAdmin(viewer) || (appAllowed(viewer.claims, id) && grantsAllow(viewer.grants ?? null, 'download', { repo, appId: id }));
  }

  /** The repo's appstream as of its current appstream2 commits (read once per set of commits, per process). */
  private async load(repo: string): Promise<Loaded> {
    const dir = this.repos.repoPath(repo);
    const heads = (await readRefs(dir)).filter((r) => /^appstream2\/[^/]+$/.test(r.ref)).sort((a, b) => a.ref.localeCompare(b.ref));
    const key = heads.map((h) => `${h.ref}=${h.commit}`).join(',');
    const hit = this.cache.get(repo);
    if (hit && hit.key === key) return hit;
    const busy = this.loading.get(repo);
    if (busy) {
      const got = await busy;
      if (got.key === key) return got;
    }
    const p = this.read(dir, key, heads);
    this.loading.set(repo, p);
    try {
      const loaded = await p;
      if (this.cache.size > 200) this.cache.clear();
      this.cache.set(repo, loaded);
      return loaded;
    } finally {
      if (this.loading.get(repo) === p) this.loading.delete(repo);
    }
  }

  private async read(repoDir: string, key: string, heads: Array<{ ref: string; commit: string }>): Promise<Loaded> {
    const apps = new Map<string, CatalogApp>();
    const icons = new Map<string, Buffer>();
    for (const head of heads) {
      const arch = head.ref.split('/')[1]!;
      const tmp = await mkdtemp(path.join(this.tmpDir, 'appstream-'));
      try {
        const out = path.join(tmp, 'tree');
        await ostree.checkoutFiles(repoDir, head.commit, out);
        const xmlFile = existsSync(path.join(out, 'appstream.xml')) ? path.join(out, 'appstream.xml') : path.join(out, 'appstream.xml.gz');
        if (!existsSync(xmlFile)) continue;
        const raw = await readFile(xmlFile);
        const xml = (xmlFile.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
        for (const app of parseAppstream(xml)) {
          const seen = apps.get(app.id);
          if (seen) {
            if (!seen.arches.includes(arch)) seen.arches.push(arch);
            continue;
          }
          app.arches = [arch];
          apps.set(app.id, app);
          for (const size of ICON_SIZES) {
            const file = path.join(out, 'icons', size, `${app.id}.png`);
            if (icons.has(app.id) || !existsSync(file)) continue;
            icons.set(app.id, await readFile(file));
            app.iconSize = Number(size.split('x')[0]);
          }
        }
      } catch (err) {
        this.log.warn({ err, ref: head.ref }, 'could not read the appstream of a repo');
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    return { key, apps, icons };
  }
}

/** Search words, lower case; a clear error for what is not a search. */
export function parseSearch(search: string | null | undefined): string[] {
  if (search == null) return [];
  if (search.length > MAX_SEARCH_LENGTH) throw new InvalidInputError(`search: at most ${MAX_SEARCH_LENGTH} characters`, 'search');
  if (/[\u0000-\u001f\u007f]/.test(search)) throw new InvalidInputError('search: control characters are not allowed', 'search');
  return search.toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}

function checkAppId(id: string): void {
  if (!isValidAppId(id)) throw new InvalidInputError(`not an app id: ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)}`, 'id');
}

// --- appstream XML ---------------------------------------------------------------------------

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  preserveOrder: true,
  trimValues: false,
  processEntities: true,
  htmlEntities: false,
});

type Node = Record<string, unknown> & { ':@'?: Record<string, string> };

function tagOf(n: Node): string | null {
  for (const k of Object.keys(n)) if (k !== ':@') return k;
  return null;
}
function childrenOf(n: Node): Node[] {
  const t = tagOf(n);
  return t && Array.isArray(n[t]) ? (n[t] as Node[]) : [];
}
function attr(n: Node, name: string): string | undefined {
  return n[':@']?.[`@${name}`];
}
/** A child element's text (the untranslated one: no xml:lang). */
function textOf(n: Node): string {
  if (tagOf(n) === '#text') return String(n['#text']);
  return childrenOf(n).map(textOf).join('');
}
function untranslated(list: Node[], tag: string): Node[] {
  return list.filter((c) => tagOf(c) === tag && attr(c, 'xml:lang') === undefined);
}
function firstText(list: Node[], tag: string): string | null {
  const n = untranslated(list, tag)[0];
  const t = n ? textOf(n).replace(/\s+/g, ' ').trim() : '';
  return t || null;
}

/** Appstream description markup (p, ul/ol with li, em, code) as plain text. */
function descriptionText(n: Node | undefined): string | null {
  if (!n) return null;
  const blocks: string[] = [];
  for (const c of childrenOf(n)) {
    const t = tagOf(c);
    if (attr(c, 'xml:lang') !== undefined) continue;
    if (t === 'p') blocks.push(textOf(c).replace(/\s+/g, ' ').trim());
    else if (t === 'ul' || t === 'ol') {
      blocks.push(untranslated(childrenOf(c), 'li').map((li) => `• ${textOf(li).replace(/\s+/g, ' ').trim()}`).join('\n'));
    } else if (t === '#text' && String(c['#text']).trim()) blocks.push(String(c['#text']).replace(/\s+/g, ' ').trim());
  }
  const out = blocks.filter((b) => b.length > 0).join('\n\n');
  return out || null;
}

/** The components of an appstream collection with a flatpak bundle. */
export function parseAppstream(xml: string): CatalogApp[] {
  const doc = parser.parse(xml) as Node[];
  const root = doc.find((n) => tagOf(n) === 'components');
  if (!root) return [];
  const out: CatalogApp[] = [];
  for (const comp of childrenOf(root)) {
    if (tagOf(comp) !== 'component') continue;
    const c = childrenOf(comp);
    const id = firstText(c, 'id')?.replace(/\.desktop$/, '');
    const bundle = c.find((n) => tagOf(n) === 'bundle' && attr(n, 'type') === 'flatpak');
    const bundleRef = bundle ? textOf(bundle).trim() : '';
    if (!id || !isValidAppId(id)) continue;
    const kind = bundleRef.split('/')[0] === 'runtime' ? 'runtime' : 'app';
    const releasesNode = c.find((n) => tagOf(n) === 'releases');
    const releases: CatalogRelease[] = releasesNode
      ? childrenOf(releasesNode)
          .filter((r) => tagOf(r) === 'release' && attr(r, 'version'))
          .map((r) => ({
            version: attr(r, 'version')!,
            date: attr(r, 'date') ?? (attr(r, 'timestamp') ? new Date(Number(attr(r, 'timestamp')) * 1000).toISOString().slice(0, 10) : null),
            description: descriptionText(untranslated(childrenOf(r), 'description')[0]),
          }))
      : [];
    const shotsNode = c.find((n) => tagOf(n) === 'screenshots');
    const screenshots: CatalogScreenshot[] = [];
    for (const sc of shotsNode ? childrenOf(shotsNode).filter((n) => tagOf(n) === 'screenshot') : []) {
      const images = childrenOf(sc).filter((n) => tagOf(n) === 'image');
      const image = images.find((i) => attr(i, 'type') === 'source') ?? images[0];
      const url = image ? textOf(image).trim() : '';
      if (!/^https?:\/\//.test(url)) continue;
      screenshots.push({ url, caption: firstText(childrenOf(sc), 'caption'), isDefault: attr(sc, 'type') === 'default' });
    }
    out.push({
      id,
      kind,
      name: firstText(c, 'name') ?? id,
      summary: firstText(c, 'summary'),
      description: descriptionText(untranslated(c, 'description')[0]),
      developer: firstText(c, 'developer_name') ?? (c.find((n) => tagOf(n) === 'developer') ? firstText(childrenOf(c.find((n) => tagOf(n) === 'developer')!), 'name') : null),
      license: firstText(c, 'project_license'),
      homepage: untranslated(c, 'url').filter((u) => attr(u, 'type') === 'homepage').map((u) => textOf(u).trim())[0] ?? null,
      releases,
      screenshots,
      arches: [],
      // set once the icon's file is found beside the XML
      iconSize: null,
    });
  }
  return out;
}
