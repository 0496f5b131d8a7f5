// Single-file .flatpak bundles (`flatpak build-bundle`) of one commit of a ref: of a committed
// build (from its build repo) or of a ref published in a repo. A bundle is made once, by a
// `bundle` job, and kept under <data-dir>/bundles/<id>.flatpak; its row (table `bundles`, one per
// build or repo, ref and commit) tracks it, so concurrent requests share one job. Who may request
// or download one is who may download what it holds: a build by the /build-repo rule
// (BuildService.getForDownload), a published ref by the /repo rule (RepoService.authorizeCommitDownload).
import type { DownloadViewer } from '../repos/service.ts';
import { createHash } from 'node:crypto';
import { copyFile, link as fsLink, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { objectPath, readCommitRoot, readDirtree } from '@fmd/sdk/ostree';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../config/index.ts';
import { Prisma, type Bundle, type Job, type PrismaClient, type Repo } from '../../generated/prisma/client.ts';
import { runTool } from '../../ostree/exec.ts';
import * as ostree from '../../ostree/ostree.ts';
import type { BuildService } from '../builds/service.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors.ts';
import type { JobQueue, JobRun } from '../jobs/queue.ts';
import { toolRun } from '../jobs/tool-run.ts';
import type { KeyService } from '../keys/service.ts';
import { readCommit, readRefs } from '../repos/commits.ts';
import type { RepoService } from '../repos/service.ts';
import { WrongStateError } from '../builds/states.ts';
import type { Claims } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/** What to bundle: a ref of a build (default: its app ref), or a ref published in a repo. */
export type BundleTarget = { build: number; ref?: string | null } | { repo: string; ref: string };

/** Who is asking: a viewer (GraphQL) or, lazily, the claims of an HTTP request's token. */
/** Who asks for a bundle: the API viewer, and for a published ref's /repo rule its download viewer (repo-secret tokens too). */
export type BundleAsker = { viewer: () => Promise<Viewer>; downloadViewer?: () => Promise<DownloadViewer> };

const REF_RE = /^(app|runtime)\/[A-Za-z0-9_.-]{1,255}\/[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9_.-]{1,255}$/;

/** A bundle is done with its job (made or failed): a new request may queue another. */
const settled = (b: Bundle) => b.state === 'READY' || b.state === 'FAILED';

export class BundleService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly repos: RepoService;
  private readonly builds: BuildService;
  private readonly keys: KeyService;
  private readonly jobs: JobQueue;
  private readonly log: Logger;
  readonly dir: string;

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; repos: RepoService; builds: BuildService; keys: KeyService; jobs: JobQueue; log: Logger }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.repos = deps.repos;
    this.builds = deps.builds;
    this.keys = deps.keys;
    this.jobs = deps.jobs;
    this.log = deps.log;
    this.dir = path.join(deps.config.dataDir, 'bundles');
  }

  filePath(id: number): string {
    return path.join(this.dir, `${id}.flatpak`);
  }

  /** `<app-id>.flatpak`: the name a bundle downloads as. */
  static fileName(b: Pick<Bundle, 'ref'>): string {
    return `${b.ref.split('/')[1]}.flatpak`;
  }

  /** The URL a bundle downloads from: absolute when base-url is configured, else the path. */
  url(b: Pick<Bundle, 'id' | 'ref'>): string {
    return `${this.config.baseUrl ?? ''}/bundles/${b.id}/${BundleService.fileName(b)}`;
  }

  // --- identity and access ---------------------------------------------------------------------

  /**
   * The bundle a target names, checked against the asker's download rights: its repo, build,
   * ref and the commit the ref points at now. Unknown builds, repos and refs are NotFoundError.
   */
  private async resolve(target: BundleTarget, asker: BundleAsker): Promise<{ repo: Repo; buildId: number | null; ref: string; commit: string; tokenType: number }> {
    if ('build' in target) {
      const build = await this.builds.getForDownload(target.build, asker.viewer);
      const refs = build.state === 'READY' ? await readRefs(this.builds.buildPath(build.id)).catch(() => []) : [];
      if (build.state !== 'READY') throw new WrongStateError('repo', `Build ${build.id} is ${build.state.toLowerCase()}: only a committed (ready) build can be bundled`, 'ready', build.state.toLowerCase());
      if (refs.length === 0 && build.publishedState === 'PUBLISHED') {
        throw new InvalidInputError(`build ${build.id} is published and its build repo is gone: ask for the bundle of the published ref (repo ${build.repo.name} and the ref)`, 'build');
      }
      const bundleable = refs.filter((r) => REF_RE.test(r.ref));
      let ref = target.ref ?? null;
      if (ref === null) {
        const apps = bundleable.filter((r) => r.ref.startsWith('app/'));
        const only = apps.length === 1 ? apps[0] : apps.length === 0 && bundleable.length === 1 ? bundleable[0] : undefined;
        if (!only) throw new InvalidInputError(`build ${build.id} has ${apps.length || bundleable.length} refs that could be bundled: name one (${bundleable.map((r) => r.ref).join(', ')})`, 'ref');
        ref = only.ref;
      }
      if (!REF_RE.test(ref)) throw new InvalidInputError(`${JSON.stringify(ref)} is not an app or runtime ref (app/ID/ARCH/BRANCH)`, 'ref');
      const hit = bundleable.find((r) => r.ref === ref);
      if (!hit) throw new NotFoundError('ref', `${ref} of build ${build.id}`);
      return { repo: build.repo, buildId: build.id, ref, commit: hit.commit, tokenType: build.tokenType ?? 0 };
    }
    if (!REF_RE.test(target.ref)) throw new InvalidInputError(`${JSON.stringify(target.ref)} is not an app or runtime ref (app/ID/ARCH/BRANCH)`, 'ref');
    const repo = await this.repos.get(target.repo);
    const commit = await ostree.revParse(this.repos.repoPath(repo.name), target.ref);
    const info = commit ? await readCommit(this.repos.repoPath(repo.name), commit) : null;
    if (!commit || !info) throw new NotFoundError('ref', `${target.ref} in repo ${repo.name}`);
    await this.authorizeRepo(repo, { tokenType: info.tokenType, ref: target.ref }, asker);
    return { repo, buildId: null, ref: target.ref, commit, tokenType: info.tokenType };
  }

  private async authorizeRepo(repo: Repo, b: { tokenType: number; ref: string }, asker: BundleAsker): Promise<{ private: boolean }> {
    return this.repos.authorizeCommitDownload(repo, { tokenType: b.tokenType, refBindings: [b.ref] }, asker.downloadViewer ?? (async () => { const v = await asker.viewer(); return { claims: v.claims, grants: v.grants ?? null }; }));
  }

  private static keyOf(r: { repo: Repo; buildId: number | null; ref: string; commit: string }): string {
    const id = r.buildId !== null ? `build:${r.buildId}:${r.ref}:${r.commit}` : `repo:${r.repo.name}:${r.ref}:${r.commit}`;
    return createHash('sha256').update(id).digest('hex');
  }

  /**
   * The bundle of a published ref's commit as listed (RepoRef.bundle: no lookup of the ref), or
   * null; NotFoundError/ForbiddenError when the asker may not download it.
   */
  async ofPublishedRef(repoName: string, r: { ref: string; commit: string; tokenType: number }, asker: BundleAsker): Promise<Bundle | null> {
    if (!REF_RE.test(r.ref)) return null;
    const repo = await this.repos.servedRepo(repoName);
    if (!repo) throw new NotFoundError('repo', repoName);
    await this.authorizeRepo(repo, r, asker);
    return this.prisma.bundle.findUnique({ where: { key: BundleService.keyOf({ repo, buildId: null, ref: r.ref, commit: r.commit }) } });
  }

  /** The bundles of a build's refs the asker may download (none when it may not). */
  async ofBuild(buildId: number, asker: BundleAsker): Promise<Bundle[]> {
    try {
      await this.builds.getForDownload(buildId, asker.viewer);
    } catch (err) {
      if (err instanceof ForbiddenError || err instanceof NotFoundError) return [];
      throw err;
    }
    return this.prisma.bundle.findMany({ where: { buildId }, orderBy: { id: 'asc' } });
  }

  /**
   * Requests the bundle of a target: a READY one whose file is there is answered as it is; one
   * being made answers its job; otherwise (new, failed, file gone) a `bundle` job is queued, once
   * however many requests race (the row's attempt number guards it).
   */
  async request(target: BundleTarget, asker: BundleAsker): Promise<{ bundle: Bundle; job: Job | null }> {
    const r = await this.resolve(target, asker);
    const key = BundleService.keyOf(r);
    let bundle = await this.prisma.bundle.findUnique({ where: { key } });
    if (!bundle) {
      try {
        bundle = await this.prisma.bundle.create({
          data: { key, buildId: r.buildId, repo: r.repo.name, ref: r.ref, commit: r.commit, tokenType: r.tokenType, state: 'QUEUED' },
        });
      } catch (err) {
        if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
        bundle = (await this.prisma.bundle.findUnique({ where: { key } }))!;
      }
    }
    for (;;) {
      if (bundle.state === 'READY' && (await this.fileSize(bundle.id)) !== null) return { bundle, job: null };
      if (!settled(bundle) && bundle.attempt > 0) {
        // Being made, or being queued by another request right now: that attempt's job, made once.
        const job = await this.jobFor(bundle);
        if (job.status === 'NEW' || job.status === 'STARTED') return { bundle: (await this.prisma.bundle.findUnique({ where: { id: bundle.id } }))!, job };
      }
      // Ours to queue (new, failed, file gone, job gone) if no other request took the next attempt first.
      const took = await this.prisma.bundle.updateMany({ where: { id: bundle.id, attempt: bundle.attempt }, data: { attempt: bundle.attempt + 1, state: 'QUEUED', error: null, size: null, readyAt: null } });
      bundle = (await this.prisma.bundle.findUnique({ where: { id: bundle.id } }))!;
      if (took.count === 1) {
        const job = await this.jobFor(bundle);
        return { bundle: (await this.prisma.bundle.findUnique({ where: { id: bundle.id } }))!, job };
      }
    }
  }

  /**
   * The bundle job of the bundle's current attempt: queued with the unique key
   * `bundle:<id>#<attempt>`, so the requests that race to queue it queue one.
   */
  private async jobFor(bundle: Bundle): Promise<Job> {
    const uniqueKey = `bundle:${bundle.id}#${bundle.attempt}`;
    let job: Job;
    try {
      job = await this.jobs.enqueue('bundle', { bundle: bundle.id }, { repo: bundle.repo, ...(bundle.buildId !== null ? { buildId: bundle.buildId } : {}), uniqueKey });
    } catch (err) {
      if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
      job = (await this.prisma.job.findUnique({ where: { uniqueKey } }))!;
    }
    await this.prisma.bundle.updateMany({ where: { id: bundle.id, attempt: bundle.attempt }, data: { jobId: job.id } });
    return job;
  }

  /**
   * A READY bundle the asker may download, with its file; NotFoundError for an unknown id, one
   * not ready, or one the asker may not download (nothing tells those apart).
   */
  async forDownload(id: number, asker: BundleAsker): Promise<{ bundle: Bundle; file: string; private: boolean }> {
    const bundle = await this.get(id, asker);
    if (bundle.state !== 'READY') throw new NotFoundError('bundle', String(id));
    return { bundle, file: this.filePath(id), private: bundle.private };
  }

  /** A bundle in any state, if the asker may download what it holds; else NotFoundError. */
  async get(id: number, asker: BundleAsker): Promise<Bundle & { private: boolean }> {
    const bundle = await this.prisma.bundle.findUnique({ where: { id } });
    if (!bundle) throw new NotFoundError('bundle', String(id));
    let priv: boolean;
    try {
      if (bundle.buildId !== null) priv = !(await this.builds.getForDownload(bundle.buildId, asker.viewer)).publicDownload;
      else priv = (await this.authorizeRepo(await this.repos.get(bundle.repo), bundle, asker)).private;
    } catch (err) {
      if (err instanceof ForbiddenError || err instanceof NotFoundError) throw new NotFoundError('bundle', String(id));
      throw err;
    }
    return { ...bundle, private: priv };
  }

  private async fileSize(id: number): Promise<number | null> {
    const st = await stat(this.filePath(id)).catch(() => null);
    return st?.isFile() ? st.size : null;
  }

  // --- making (the bundle job) -----------------------------------------------------------------

  /**
   * Makes the file: `flatpak build-bundle` from the build repo or the published repo (the job
   * holds that repo's lock), with the repo key's public part (`--gpg-keys`), the repo's URL for
   * updates (`--repo-url`) and where the runtime comes from (`--runtime-repo`). Written beside
   * and renamed into place, so a download never sees half a file.
   */
  async make(run: JobRun<{ bundle: number }>): Promise<Record<string, unknown>> {
    const id = run.contents.bundle;
    const bundle = await this.prisma.bundle.findUnique({ where: { id } });
    if (!bundle) throw new Error(`bundle ${id} is gone`);
    await this.prisma.bundle.update({ where: { id }, data: { state: 'MAKING', error: null } });
    try {
      const result = await this.makeFile(bundle, run);
      await this.prisma.bundle.update({ where: { id }, data: { state: 'READY', size: BigInt(result.size), readyAt: new Date() } });
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.prisma.bundle.update({ where: { id }, data: { state: 'FAILED', error: message.slice(0, 2000) } }).catch(() => undefined);
      throw err;
    }
  }

  private async makeFile(bundle: Bundle, run: JobRun): Promise<{ ref: string; commit: string; size: number; file: string }> {
    const repo = await this.repos.get(bundle.repo);
    let src = bundle.buildId !== null ? this.builds.buildPath(bundle.buildId) : this.repos.repoPath(repo.name);
    // The ref must still hold the commit this bundle is of (the repo lock keeps it there meanwhile).
    const now = await ostree.revParse(src, bundle.ref);
    if (now !== bundle.commit) throw new Error(`${bundle.ref} now points at ${now ?? 'nothing'}, not ${bundle.commit}: request the bundle again`);
    const [kind, appId, arch, branch] = bundle.ref.split('/') as [string, string, string, string];
    await mkdir(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.${bundle.id}.${process.pid}.${Date.now()}.tmp`);
    await mkdir(tmp);
    try {
      if (bundle.buildId !== null) {
        // A build repo keeps the objects its repo has already in that parent repo, where
        // build-bundle does not look (nor ostree's pull-local, which hardlinks metadata from the
        // build repo's own object dir and fails on those): the commit's objects are linked into
        // a repo of their own first, from the build repo or its parent.
        const own = path.join(tmp, 'repo');
        await run.log(`gathering the objects of ${bundle.ref} (${bundle.commit}) from the build repo`);
        await ostree.init(own, { mode: 'archive-z2', ...(repo.collectionId ? { collectionId: repo.collectionId } : {}) });
        const linked = await linkCommitObjects(own, [src, this.repos.repoPath(repo.name)], bundle.commit);
        await run.log(`${linked} objects`);
        await ostree.createRef(own, bundle.ref, bundle.commit);
        src = own;
      }
      const base = this.config.baseUrl ?? `http://${this.config.host}:${this.config.port}`;
      const args = ['build-bundle', `--arch=${arch}`, `--repo-url=${repo.baseUrl ?? `${base}/repo/${repo.name}/`}`];
      args.push(`--runtime-repo=${repo.runtimeRepoUrl ?? `${base}/repo/${repo.name}.flatpakrepo`}`);
      if (kind === 'runtime') args.push('--runtime');
      if (repo.keyId !== null) {
        const keyFile = path.join(tmp, 'key.gpg');
        await writeFile(keyFile, Buffer.from((await this.keys.publicKey(await this.keys.get(repo.keyId))).base64, 'base64'));
        args.push(`--gpg-keys=${keyFile}`);
      }
      const out = path.join(tmp, 'bundle.flatpak');
      args.push(src, out, appId, branch);
      await run.log(`flatpak ${args.join(' ')}`);
      const tools = toolRun(run);
      // Big apps take a while: an hour, like the other repo tools.
      await runTool('flatpak', args, { ...tools, timeoutMs: 3600_000 });
      await tools.flush();
      const size = (await stat(out)).size;
      await rename(out, this.filePath(bundle.id));
      await run.log(`bundle ${BundleService.fileName(bundle)} ready: ${size} bytes`);
      return { ref: bundle.ref, commit: bundle.commit, size, file: BundleService.fileName(bundle) };
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  // --- retention -------------------------------------------------------------------------------

  /**
   * Bundles to delete (the global retention sweep): those of builds purged, superseded or gone,
   * and, with `maxAgeSecs`, those made (or failed) longer ago; bundles being made stay. Deletes
   * their rows and files unless `dryRun`; answers their numbers.
   */
  async sweep(o: { maxAgeSecs: number | null; dryRun?: boolean }): Promise<number[]> {
    const settledStates = { in: ['READY', 'FAILED'] as Array<'READY' | 'FAILED'> };
    const gone = new Set<number>();
    if (o.maxAgeSecs !== null) {
      const before = new Date(Date.now() - o.maxAgeSecs * 1000);
      for (const b of await this.prisma.bundle.findMany({ where: { state: settledStates, updatedAt: { lt: before } }, select: { id: true }, take: 10_000 })) gone.add(b.id);
    }
    const ofBuilds = await this.prisma.bundle.findMany({ where: { state: settledStates, buildId: { not: null } }, select: { id: true, buildId: true }, take: 10_000 });
    const ids = [...new Set(ofBuilds.map((b) => b.buildId!))];
    const alive = new Set(
      (await this.prisma.build.findMany({ where: { id: { in: ids }, state: { notIn: ['PURGED', 'PURGING', 'SUPERSEDED'] } }, select: { id: true } })).map((b) => b.id),
    );
    for (const b of ofBuilds) if (!alive.has(b.buildId!)) gone.add(b.id);
    const list = [...gone].sort((a, b) => a - b);
    if (o.dryRun) return list;
    for (const id of list) {
      const { count } = await this.prisma.bundle.deleteMany({ where: { id, state: settledStates } });
      if (count) await rm(this.filePath(id), { force: true });
    }
    if (list.length) this.log.info({ bundles: list.length }, 'deleted bundles');
    return list;
  }
}

/**
 * Hardlinks (or copies, across filesystems) every object of `commit` into the archive repo
 * `dest`, each from the first of `sources` that has it; answers how many. A missing object fails.
 */
async function linkCommitObjects(dest: string, sources: readonly string[], commit: string): Promise<number> {
  const done = new Set<string>();
  const link = async (name: string, optional = false): Promise<void> => {
    if (done.has(name)) return;
    done.add(name);
    const to = objectPath(dest, name);
    await mkdir(path.dirname(to), { recursive: true });
    for (const src of sources) {
      const from = objectPath(src, name);
      try {
        await fsLink(from, to);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return;
        if (code === 'EXDEV' || code === 'EPERM') {
          if (await copyFile(from, to).then(() => true, () => false)) return;
        } else if (code !== 'ENOENT') throw err;
      }
    }
    if (!optional) throw new Error(`object ${name} is in none of ${sources.join(', ')}`);
    done.delete(name);
  };
  await link(`${commit}.commit`);
  await link(`${commit}.commitmeta`, true);
  const walk = async (tree: string, meta: string): Promise<void> => {
    await link(`${meta}.dirmeta`);
    if (done.has(`${tree}.dirtree`)) return;
    await link(`${tree}.dirtree`);
    const t = await readDirtree(dest, tree);
    for (const f of t.files) await link(`${f.checksum}.filez`);
    for (const d of t.dirs) await walk(d.tree, d.meta);
  };
  const root = await readCommitRoot(dest, commit);
  await walk(root.tree, root.meta);
  return done.size;
}
