// Git builds: fmd builds an app itself from a git repository holding a flatpak-builder manifest,
// then feeds the result into the ordinary commit/check/publish flow of the build. The rules of
// creating, starting, cancelling, superseding and rebuilding one live here; the build itself is
// the git-build job (../jobs/git-build.ts), which calls back the helpers at the end of this class.
import { requireGrant } from '../../users/roles.ts';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../../config/index.ts';
import type { BuildSource, Job, Prisma, PrismaClient } from '../../../generated/prisma/client.ts';
import { validateGitRef, validateGitUrl } from '../../../ostree/git.ts';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import type { JobQueue } from '../../jobs/queue.ts';
import type { KeyService } from '../../keys/service.ts';
import type { RepoService } from '../../repos/service.ts';
import { isValidAppId } from '../../repos/validate.ts';
import { appAllowed, hasScope, type Claims } from '../../tokens/claims.ts';
import type { Viewer } from '../../tokens/service.ts';
import { requireClaims, requirePrefix, requireRepo, visibleBuildsWhere } from '../access.ts';
import { gitBuildingStates, requireStep } from '../lifecycle.ts';
import type { BuildService, BuildWithRepo } from '../service.ts';

/** What a git build acts with: the claims of the token that created it (or registered its source). */
export type SourceClaims = Pick<Claims, 'sub' | 'scope' | 'prefixes' | 'apps' | 'repos'> & { jti: string | null };

export type GitBuildInput = {
  repo: string;
  url: string;
  /** branch, tag or commit; default: the HEAD of the remote's default branch (resolved by the clone) */
  ref?: string | null;
  manifestPath?: string | null;
  appId?: string | null;
  arch?: string | null;
  /** flatpak-builder's --default-branch when the manifest names none */
  branch?: string | null;
  /** default: true */
  autoCommit?: boolean | null;
  /** default: the repo's autoPublish policy */
  autoPublish?: boolean | null;
  /** a GitCredential of the repo */
  credential?: number | null;
  dependsOn?: number[] | null;
  publicDownload?: boolean | null;
  buildSetId?: number;
  gitSourceId?: number;
  rebuildOf?: number;
  /** act with these claims instead of the viewer's (a push to a registered source) */
  claims?: SourceClaims;
};

/** What the job needs to clone with a credential (GitCredentialService.open). */
export type GitCredentialSecret = { kind: 'SSH_KEY' | 'HTTPS_TOKEN'; username: string | null; secret: string };
export type GitCredentialOpener = { open(id: number): Promise<GitCredentialSecret> };

/** The ref asked for when none is: the remote's default branch. */
export const DEFAULT_GIT_REF = 'HEAD';

const ARCH_RE = /^[A-Za-z0-9_]{1,32}$/;
const BRANCH_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const MAX_URL = 1024;
const MAX_PATH = 1024;
/** marks a failed build's work dir: kept for keepFailedBuildSecs from this file's time */
const FAILED_MARK = '.failed';

export class GitBuildService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly builds: BuildService;
  private readonly repos: RepoService;
  private readonly jobs: JobQueue;
  private readonly keys: KeyService;
  private readonly log: Logger;
  /** `<data-dir>/builder`: work dirs, per-app state dirs, the builder's flatpak installation */
  readonly root: string;
  /** set by services.ts when credentials are available (GitCredentialService) */
  credentials: GitCredentialOpener | null = null;
  /**
   * What happens between create and the build's job: by default the job is queued at once; a
   * scheduler (dependencies, arches) replaces this to admit the build when it may run.
   */
  admit: (buildId: number) => Promise<void> = async (id) => {
    await this.start(id);
  };

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; builds: BuildService; repos: RepoService; jobs: JobQueue; keys: KeyService; log: Logger }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.builds = deps.builds;
    this.repos = deps.repos;
    this.jobs = deps.jobs;
    this.keys = deps.keys;
    this.log = deps.log;
    this.root = path.join(deps.config.dataDir, 'builder');
  }

  workDir(buildId: number): string {
    return path.join(this.root, 'work', String(buildId));
  }

  /** Where a build's git credential files live during its clone (never in its work dir). */
  credentialDir(buildId: number): string {
    return path.join(this.root, 'credentials', String(buildId));
  }

  /** flatpak-builder's --state-dir of an app: its module cache survives from one build to the next. */
  stateDir(appId: string, arch: string): string {
    return path.join(this.root, 'state', appId, arch);
  }

  repoPath(name: string): string {
    return this.repos.repoPath(name);
  }

  /** The builder's own flatpak installation (runtimes and SDKs the manifests need). */
  installationDir(): string {
    return path.join(this.root, 'flatpak');
  }

  // --- requests --------------------------------------------------------------------------------

  async create(viewer: Viewer, input: GitBuildInput): Promise<BuildWithRepo> {
    const claims: SourceClaims = input.claims ?? claimsOf(viewer);
    const actor = viewerFromClaims(claims);
    requireClaims(actor, 'build', 'build');
    if (typeof input.repo !== 'string' || !input.repo) throw new InvalidInputError('"repo" is required', 'repo');
    requireRepo(actor, input.repo);
    if (typeof input.url !== 'string' || !input.url) throw new InvalidInputError('"url" is required', 'url');
    if (input.url.length > MAX_URL) throw new InvalidInputError('url is too long', 'url');
    validateGitUrl(input.url, this.config.gitUrlSchemes);
    const ref = input.ref ?? DEFAULT_GIT_REF;
    if (ref !== DEFAULT_GIT_REF) validateGitRef(ref);
    const appId = input.appId ?? null;
    if (appId !== null) {
      if (!isValidAppId(appId)) throw new InvalidInputError(`Invalid app id ${appId}`, 'app-id');
      requirePrefix(actor, appId);
    }
    // A request (not a push acting with a source's stored claims) is bound by its user's roles.
    if (!input.claims) requireGrant(viewer, 'build', { repo: input.repo, appId });
    const manifestPath = input.manifestPath ?? null;
    if (manifestPath !== null) validateManifestPath(manifestPath);
    const arch = input.arch ?? this.config.buildArches[0]!;
    if (!ARCH_RE.test(arch)) throw new InvalidInputError(`Invalid arch ${arch.slice(0, 40)}`, 'arch');
    const branch = input.branch ?? null;
    if (branch !== null && !BRANCH_RE.test(branch)) throw new InvalidInputError(`Invalid branch ${branch.slice(0, 80)}`, 'branch');
    // Publishing asked for explicitly needs the right to publish; a repo's policy publishes by itself.
    if (input.autoPublish && !hasScope(claims, 'publish') && !hasScope(claims, 'admin')) {
      throw new InvalidInputError('autoPublish needs a token with the "publish" scope', 'auto-publish');
    }
    if (input.autoPublish && input.autoCommit === false) throw new InvalidInputError('autoPublish needs autoCommit', 'auto-publish');
    const repo = await this.repos.get(input.repo);
    if (input.credential != null) {
      const found = await this.prisma.gitCredential.findFirst({ where: { id: input.credential, repoId: repo.id }, select: { id: true } });
      if (!found) throw new InvalidInputError(`git credential ${input.credential} is not one of repo ${repo.name}'s`, 'credential');
    }
    const dependsOn = [...new Set(input.dependsOn ?? [])];
    for (const id of dependsOn) {
      if (!Number.isInteger(id)) throw new InvalidInputError(`Invalid build number ${String(id)}`, 'depends-on');
      const dep = await this.prisma.build.findFirst({ where: { AND: [{ id }, visibleBuildsWhere(actor)] }, select: { repoId: true } });
      if (!dep) throw new InvalidInputError(`build ${id} (a dependency) does not exist`, 'depends-on');
      if (dep.repoId !== repo.id) throw new InvalidInputError(`build ${id} (a dependency) is in another repo`, 'depends-on');
    }
    const source: Omit<Prisma.BuildSourceUncheckedCreateInput, 'buildId'> = {
      url: input.url,
      gitRef: ref,
      manifestPath,
      arch,
      branch,
      autoCommit: input.autoCommit ?? true,
      autoPublish: input.autoPublish ?? null,
      claims,
      credentialId: input.credential ?? null,
      gitSourceId: input.gitSourceId ?? null,
      rebuildOfId: input.rebuildOf ?? null,
    };
    const build = await this.builds.create(
      actor,
      { repo: input.repo, appId, publicDownload: input.publicDownload ?? null },
      { source, buildSetId: input.buildSetId ?? null, dependsOn },
    );
    await this.admit(build.id);
    return build;
  }

  /** Queues the build's job unless one is queued or running (idempotent). */
  async start(buildId: number): Promise<Job | null> {
    const build = await this.builds.get(buildId);
    if (build.state !== 'WAITING') return null;
    const live = await this.prisma.job.findFirst({ where: { buildId, kind: 'git-build', status: { in: ['NEW', 'STARTED'] } } });
    if (live) return live;
    const source = await this.source(buildId);
    // Queued in the lane of its arch: only a worker that builds the arch takes it.
    const job = await this.jobs.enqueue('git-build', { build: buildId }, { buildId, lane: source?.arch });
    await this.builds.changed(buildId);
    return job;
  }

  /** cancelBuild: stops the build's job (its tools' process groups) and marks it CANCELLED. */
  async cancel(viewer: Viewer, buildId: number, reason?: string | null): Promise<BuildWithRepo> {
    const build = await this.builds.getFor(viewer, buildId, 'build');
    await this.requireGitBuild(buildId);
    requireStep(build, 'cancel');
    const who = `cancelled by ${viewer.claims.name || viewer.claims.sub || 'a token'}`;
    const why = reason?.trim() ? `${reason.trim().slice(0, 1000)} (${who})` : who;
    await this.stop(buildId, { step: 'cancel', reason: why });
    return this.builds.get(buildId);
  }

  /** A newer push of the same source and branch replaces this build (no viewer: the push's source decided). */
  async supersede(buildId: number, byBuildId: number): Promise<boolean> {
    return this.stop(buildId, { step: 'supersede', reason: `superseded by build ${byBuildId}` });
  }

  /** The build stops building; false when it was no longer waiting, cloning or building. */
  async stop(buildId: number, step: { step: 'cancel' | 'supersede' | 'build-failed'; reason: string }): Promise<boolean> {
    if (!(await this.builds.applyStep(buildId, step))) return false;
    // The job notices the state at once in this process (the engine's abort) or within a second
    // elsewhere (it watches its build); a queued one never starts.
    let running = false;
    for (const job of await this.prisma.job.findMany({ where: { buildId, kind: 'git-build', status: { in: ['NEW', 'STARTED'] } } })) {
      running ||= job.status === 'STARTED';
      await this.jobs.cancel(job.id);
    }
    // A running job removes its work dir itself once its tools are gone.
    if (!running) await this.removeWorkDir(buildId).catch((err) => this.log.warn({ err, buildId }, 'could not remove the work dir of a stopped build'));
    await this.builds.changed(buildId);
    return true;
  }

  /** rebuildBuild: a new build of the same source commit, manifest, arch and flags. */
  async rebuild(viewer: Viewer, buildId: number): Promise<BuildWithRepo> {
    const build = await this.builds.getFor(viewer, buildId, 'build');
    const src = await this.requireGitBuild(buildId);
    if (!src.commit) throw new InvalidInputError(`build ${buildId} never got to clone its source: nothing to rebuild from`, 'build');
    return this.create(viewer, {
      repo: build.repo.name,
      url: src.url,
      ref: src.commit,
      manifestPath: src.manifestPath,
      appId: build.appId,
      arch: src.arch,
      branch: src.branch,
      autoCommit: src.autoCommit,
      autoPublish: src.autoPublish,
      credential: src.credentialId,
      publicDownload: build.publicDownload,
      rebuildOf: buildId,
    });
  }

  async source(buildId: number): Promise<BuildSource | null> {
    return this.prisma.buildSource.findUnique({ where: { buildId } });
  }

  private async requireGitBuild(buildId: number): Promise<BuildSource> {
    const src = await this.source(buildId);
    if (!src) throw new InvalidInputError(`build ${buildId} is not a git build`, 'build');
    return src;
  }

  // --- what the job and the other services use ------------------------------------------------------

  /**
   * The build became READY: commit and checks are over. A git build asked to (or of a repo whose
   * policy is to) publishes it now, through the ordinary publish with the build's claims.
   */
  async onReady(buildId: number): Promise<void> {
    const src = await this.prisma.buildSource.findUnique({ where: { buildId }, include: { build: { include: { repo: true } } } });
    if (!src) return;
    // Asked for (true) or refused (false) by the build; not asked (null): the repo's policy decides.
    if (!(src.autoPublish ?? src.build.repo.autoPublish)) return;
    const claims = src.claims as unknown as SourceClaims;
    // A repo's policy publishes what was built into it, whatever the token's publish scope.
    const scope = src.autoPublish === true ? claims.scope : [...new Set([...claims.scope, 'publish'])];
    try {
      await this.builds.publish(viewerFromClaims({ ...claims, scope }), buildId);
    } catch (err) {
      this.log.warn({ err, buildId }, 'auto-publish of a git build failed');
    }
  }

  /** After the build job: queue the commit with the build's claims when asked. */
  async afterBuilt(buildId: number): Promise<Job | null> {
    const src = await this.prisma.buildSource.findUnique({ where: { buildId } });
    if (!src?.autoCommit) return null;
    return this.builds.commit(viewerFromClaims(src.claims as unknown as SourceClaims), buildId, {});
  }

  /** The app id the manifest builds must be one the build's claims (and its asked-for app id) allow. */
  checkAppId(claims: SourceClaims, asked: string | null, manifestAppId: string): void {
    if (!isValidAppId(manifestAppId)) throw new InvalidInputError(`the manifest's app id ${manifestAppId} is not a valid app id`, 'manifest');
    if (asked !== null && asked !== manifestAppId) {
      throw new InvalidInputError(`the manifest builds ${manifestAppId}, but the build is for ${asked}`, 'app-id');
    }
    if (!appAllowed(claims, manifestAppId)) throw new InvalidInputError(`the manifest's app id ${manifestAppId} is not matching the prefixes of the build's token`, 'app-id');
  }

  /**
   * Where the builder installs runtimes and SDKs from: the configured remotes, then every active
   * fmd repo (read straight from its directory, verified with its signing key when it has one).
   */
  async builderRemotes(): Promise<Array<{ name: string; url: string; gpgKey?: string }>> {
    const out: Array<{ name: string; url: string; gpgKey?: string }> = this.config.builderRemotes.map((r) => ({
      name: r.name,
      url: r.url,
      ...(r.gpgKey ? { gpgKey: r.gpgKey } : {}),
    }));
    const repos = await this.prisma.repo.findMany({ where: { status: 'ACTIVE' }, orderBy: { id: 'asc' } });
    for (const r of repos) {
      const dir = this.repos.repoPath(r.name);
      // A repo whose summary was never written has nothing to install yet.
      if (!existsSync(path.join(dir, 'summary'))) continue;
      const gpgKey = r.keyId !== null ? (await this.keys.publicKey(await this.keys.get(r.keyId))).base64 : undefined;
      out.push({ name: `fmd-${r.name}`, url: `file://${dir}`, ...(gpgKey ? { gpgKey } : {}) });
    }
    return out;
  }

  async removeWorkDir(buildId: number): Promise<void> {
    await rm(this.workDir(buildId), { recursive: true, force: true });
  }

  /** A failed build's work dir stays for inspection until the sweep after keepFailedBuildSecs. */
  async keepFailedWorkDir(buildId: number): Promise<void> {
    const dir = this.workDir(buildId);
    if (existsSync(dir)) await writeFile(path.join(dir, FAILED_MARK), `${new Date().toISOString()}\n`);
  }

  /**
   * Removes the work dirs of failed builds kept longer than keepFailedBuildSecs, and those of
   * builds that are over without a mark (a worker that died mid-build). Answers their paths;
   * with `dryRun` it only answers them.
   */
  async sweepWorkDirs(o: { now?: number; dryRun?: boolean } = {}): Promise<string[]> {
    const now = o.now ?? Date.now();
    const root = path.join(this.root, 'work');
    let names: string[];
    try {
      names = await readdir(root);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      if (!/^\d+$/.test(name)) continue;
      const id = Number(name);
      const mark = await stat(path.join(root, name, FAILED_MARK)).catch(() => null);
      let gone: boolean;
      if (mark) gone = now - mark.mtimeMs > this.config.keepFailedBuildSecs * 1000;
      else {
        const b = await this.prisma.build.findUnique({ where: { id }, select: { state: true } });
        gone = !b || !gitBuildingStates.includes(b.state);
      }
      if (gone) {
        if (!o.dryRun) await rm(path.join(root, name), { recursive: true, force: true });
        removed.push(path.join(root, name));
      }
    }
    return removed;
  }

  /**
   * The builder's dirs. Builds run as an unprivileged user (jail.ts) that must be able to walk
   * (not list) down to its own dirs: the data dir and the builder dirs get o+x when they lack it.
   */
  async ensureDirs(): Promise<void> {
    for (const dir of [this.root, path.join(this.root, 'work'), path.join(this.root, 'state')]) await mkdir(dir, { recursive: true, mode: 0o711 });
    if (process.getuid?.() !== 0) return;
    for (const dir of [this.config.dataDir, this.root, path.join(this.root, 'work'), path.join(this.root, 'state')]) {
      const st = await stat(dir);
      if ((st.mode & 0o001) === 0) {
        await chmod(dir, (st.mode & 0o7777) | 0o001);
        this.log.info({ dir }, 'made searchable (o+x) for the git builds\' unprivileged user');
      }
    }
  }
}

export function claimsOf(viewer: Viewer): SourceClaims {
  const c = viewer.claims;
  return { jti: c.jti ?? null, sub: c.sub, scope: [...c.scope], prefixes: [...c.prefixes], apps: [...c.apps], repos: [...c.repos] };
}

/** A viewer acting with stored claims (no expiry of its own: the build lives on after the request). */
export function viewerFromClaims(c: SourceClaims): Viewer {
  return { claims: { sub: c.sub, scope: c.scope, prefixes: c.prefixes, apps: c.apps, repos: c.repos, jti: c.jti, exp: Number.MAX_SAFE_INTEGER, name: null, token_type: null }, ownerId: null };
}

/** A manifest path inside the checkout: relative, no `..`, no option-like or control characters. */
function validateManifestPath(p: string): void {
  const bad = (why: string) => new InvalidInputError(`Invalid manifest path ${p.slice(0, 80)}: ${why}`, 'manifest');
  if (p.length === 0 || p.length > MAX_PATH) throw bad('empty or too long');
  if (path.isAbsolute(p) || p.startsWith('-')) throw bad('must be relative to the checkout');
  if (p.split(/[\\/]/).some((s) => s === '..')) throw bad('must stay inside the checkout');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f]/.test(p)) throw bad('control characters');
  if (!/\.(ya?ml|json)$/.test(p)) throw bad('must be a .yml, .yaml or .json file');
}
