// Builds: flat-manager's build lifecycle. A build is created against a repo with an upload
// repo under <data-dir>/builds/<id>/upload (parent: the main repo), receives objects and refs,
// is committed by a job into its build repo (<data-dir>/builds/<id>), optionally checked, and
// published by a job into the main repo, after which an update-repo job (debounced per repo)
// signs, makes deltas and writes the summary. REST and GraphQL call the requests here; the job
// bodies are in jobs/<kind>.ts and call the helpers at the end of this class.
import { requireGrant } from '../users/roles.ts';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../config/index.ts';
import type { Build, BuildRef, Check, CheckStatus, Job, Prisma, PrismaClient, Repo } from '../../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { perEvent, type EventBus } from '../events.ts';
import { Listeners } from '../listeners.ts';
import type { JobQueue, JobRun } from '../jobs/queue.ts';
import type { RepoService } from '../repos/service.ts';
import { isValidAppId } from '../repos/validate.ts';
import type { Viewer } from '../tokens/service.ts';
import * as ostree from '../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../ostree/ostree.ts';
import { requireBuildAccess, requireClaims, requirePrefix, requireRepo, visibleBuildsWhere } from './access.ts';
import { change, gitBuildingStates, refusal, requireStep, whereFrom, type BuildStep, type BuildStepName } from './lifecycle.ts';
import { BuildBusyError, checkStatusFromWire } from './states.ts';
import { MissingObjectsAnswerer } from './missing-objects.ts';
import { UploadWorkers } from './upload-workers.ts';
import {
  checkFreeSpace,
  defaultUploadLimits,
  initRepoWithParent,
  removeUploadTemps,
  receiveUpload,
  type UploadLimits,
  type UploadPart,
} from './upload-store.ts';

export const buildTopic = (id: number) => `build.updated.${id}`;
export const repoBuildsTopic = (repo: string) => `builds.updated.${repo}`;
/** every build's changes, for lists across repos */
export const allBuildsTopic = 'builds.updated';

export type BuildWithRepo = Build & { repo: Repo };

/** A build with what its flat-manager JSON needs. */
export type BuildDetails = BuildWithRepo & { commitJob: Job | null; publishJob: Job | null; gitBuildJob: Job | null };

export type CreateBuildInput = { repo: string; appId?: string | null; publicDownload?: boolean | null; buildLogUrl?: string | null };
/** What a git build adds to a created build (GitBuildService): it starts WAITING, with its source. */
export type GitBuildExtras = {
  source: Omit<Prisma.BuildSourceUncheckedCreateInput, 'buildId'>;
  buildSetId?: number | null;
  dependsOn?: number[];
};
export type CommitInput = { endOfLife?: string | null; endOfLifeRebase?: string | null; tokenType?: number | null };
export type RepublishInput = { app: string; endOfLife?: string | null; endOfLifeRebase?: string | null };
export type BuildFilter = {
  repo?: string | null;
  appId?: string | null;
  state?: Build['state'] | null;
  publishedState?: Build['publishedState'] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
};

/** Bounds on the objects of one upload request being verified and written side by side. */
const MAX_UPLOAD_IN_FLIGHT_BYTES = 32 * 1024 ** 2;
const MAX_UPLOAD_IN_FLIGHT_OBJECTS = 256;

/** An upload temp file nobody wrote to for this long is dead, whoever wrote it. */
const STALE_UPLOAD_MS = 60 * 60_000;

const REF_COMMIT_RE = /^[0-9a-f]{64}$/;
/** flat-manager's extra id rule: dot-separated non-empty alphanumeric elements. */
const EXTRA_ID_RE = /^[\p{L}\p{N}]+(\.[\p{L}\p{N}]+)*$/u;
const ARCH_RE = /^[A-Za-z0-9_]+$/;
const BRANCH_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** Runtimes whose refs get no .flatpakref (flat-manager's list). */
const UNWANTED_FLATPAKREF_EXTS = ['.Debug', '.Locale', '.Sources', '.Docs'];

export class BuildService {
  private readonly prisma: PrismaClient;
  private readonly config: FmdConfig;
  private readonly repos: RepoService;
  private readonly jobs: JobQueue;
  private readonly events: EventBus;
  private readonly log: Logger;
  readonly buildsDir: string;
  /** size limits and free-space floor for uploads (tests lower them) */
  limits: UploadLimits = { ...defaultUploadLimits };
  /** a build's refs landed in a repo: its own (publish) or a promotion's target (promote) */
  readonly landed = new Listeners<[buildId: number, repo: Repo, run: Pick<JobRun, 'log'>]>();
  /** a build became READY (committed, every check passed): what auto-publish waits for */
  readonly ready = new Listeners<[buildId: number]>();
  /** a step of the state machine was applied to a build (its state or published state may have changed) */
  readonly stepped = new Listeners<[buildId: number, step: BuildStep]>();
  private readonly missing = new MissingObjectsAnswerer();
  private readonly uploadWorkers = new UploadWorkers();

  constructor(deps: { prisma: PrismaClient; config: FmdConfig; repos: RepoService; jobs: JobQueue; events: EventBus; log: Logger }) {
    this.prisma = deps.prisma;
    this.config = deps.config;
    this.repos = deps.repos;
    this.jobs = deps.jobs;
    this.events = deps.events;
    this.log = deps.log;
    this.buildsDir = path.join(deps.config.dataDir, 'builds');
  }

  buildPath(id: number): string {
    return path.join(this.buildsDir, String(id));
  }

  /** Stops the missing_objects worker thread, if one was started. */
  async close(): Promise<void> {
    await Promise.all([this.missing.close(), this.uploadWorkers.close()]);
  }

  uploadPath(id: number): string {
    return path.join(this.buildPath(id), 'upload');
  }

  // --- reading -------------------------------------------------------------------------------

  /** The build an event of its topics names, read once per event for all its subscribers. */
  readonly forEvent = perEvent((event: { id: number }) => this.get(event.id));

  async get(id: number): Promise<BuildWithRepo> {
    const build = await this.prisma.build.findUnique({ where: { id }, include: { repo: true } });
    if (!build) throw new NotFoundError('build', String(id));
    return this.reconcile(build);
  }

  /** A build the viewer may see with one of `scopes` (flat-manager's sub `build/<id>` rule). */
  async getFor(viewer: Viewer, id: number, scopes: Parameters<typeof requireClaims>[2]): Promise<BuildWithRepo> {
    requireClaims(viewer, `build/${id}`, scopes);
    const build = await this.get(id);
    requireBuildAccess(viewer, { repoName: build.repo.name, appId: build.appId });
    requireGrant(viewer, scopes, { repo: build.repo.name, appId: build.appId });
    return build;
  }

  /**
   * The build whose repo /build-repo serves: any build not purged when its downloads are public,
   * otherwise only for a viewer whose `download` token covers it (asked for only then).
   */
  async getForDownload(id: number, viewer: () => Promise<Viewer>): Promise<BuildWithRepo> {
    const build = await this.get(id);
    if (build.state === 'PURGED') throw new NotFoundError('build', String(id));
    if (build.publicDownload) return build;
    return this.getFor(await viewer(), id, 'download');
  }

  async details(build: BuildWithRepo): Promise<BuildDetails> {
    const jobs = await this.prisma.job.findMany({ where: { buildId: build.id, kind: { in: ['commit', 'publish', 'git-build'] } }, orderBy: { id: 'desc' } });
    const latest = (kind: string) => jobs.find((j) => j.kind === kind) ?? null;
    return { ...build, commitJob: latest('commit'), publishJob: latest('publish'), gitBuildJob: latest('git-build') };
  }

  /**
   * flat-manager's list: builds not purged, with that app id (or, without one, builds without an
   * app id), of the repos the token covers (`repos: []` covers none).
   */
  async list(viewer: Viewer, appId: string | null): Promise<BuildDetails[]> {
    requireClaims(viewer, 'build', ['build', 'download']);
    if (appId) requirePrefix(viewer, appId);
    const builds = await this.prisma.build.findMany({
      where: { AND: [{ state: { not: 'PURGED' }, appId: appId ?? null }, visibleBuildsWhere(viewer)] },
      include: { repo: true },
      orderBy: { id: 'asc' },
      take: 10_000,
    });
    return Promise.all(builds.map((b) => this.details(b)));
  }

  where(f: BuildFilter): Prisma.BuildWhereInput {
    return {
      ...(f.repo ? { repo: { name: f.repo } } : {}),
      ...(f.appId ? { appId: f.appId } : {}),
      ...(f.state ? { state: f.state } : {}),
      ...(f.publishedState ? { publishedState: f.publishedState } : {}),
      ...(f.createdAfter || f.createdBefore
        ? { createdAt: { ...(f.createdAfter ? { gte: f.createdAfter } : {}), ...(f.createdBefore ? { lt: f.createdBefore } : {}) } }
        : {}),
    };
  }

  async refs(buildId: number): Promise<BuildRef[]> {
    return this.prisma.buildRef.findMany({ where: { buildId }, orderBy: { id: 'asc' } });
  }

  async checks(buildId: number): Promise<Check[]> {
    return this.prisma.check.findMany({ where: { buildId }, orderBy: { id: 'asc' } });
  }

  /**
   * A build left COMMITTING/PUBLISHING by a job that is over without saying so (cancelled while
   * queued, or failed by crash recovery) is marked failed, so it can be purged or re-published.
   */
  private async reconcile(build: BuildWithRepo): Promise<BuildWithRepo> {
    if (gitBuildingStates.includes(build.state)) return this.reconcileGitBuild(build);
    if (build.state !== 'COMMITTING' && build.publishedState !== 'PUBLISHING') return build;
    const kind = build.state === 'COMMITTING' ? 'commit' : 'publish';
    const job = await this.prisma.job.findFirst({ where: { buildId: build.id, kind }, orderBy: { id: 'desc' } });
    if (!job || job.status !== 'BROKEN') return build;
    const reason = `${kind} job ${job.id} failed: ${job.error ?? 'unknown error'}`;
    await this.applyStep(build.id, kind === 'commit' ? { step: 'commit-failed', reason } : { step: 'publish-failed' });
    if (kind === 'commit') await this.removeUploadTemps(build.id);
    await this.changed(build.id);
    return (await this.prisma.build.findUnique({ where: { id: build.id }, include: { repo: true } }))!;
  }

  /** A git build whose job is over without saying so (cancelled while queued, say) failed. */
  private async reconcileGitBuild(build: BuildWithRepo): Promise<BuildWithRepo> {
    const job = await this.prisma.job.findFirst({ where: { buildId: build.id, kind: 'git-build' }, orderBy: { id: 'desc' } });
    if (!job || job.status !== 'BROKEN') return build;
    if (!(await this.applyStep(build.id, { step: 'build-failed', reason: `git-build job ${job.id} failed: ${job.error ?? 'unknown error'}` }))) return build;
    await this.changed(build.id);
    return (await this.prisma.build.findUnique({ where: { id: build.id }, include: { repo: true } }))!;
  }

  /** Tells subscribers of the build, of its repo, of `alsoRepo` (a promotion's target) and of all builds that it changed. */
  async changed(id: number, alsoRepo?: string): Promise<void> {
    const b = await this.prisma.build.findUnique({ where: { id }, select: { id: true, repo: { select: { name: true } } } });
    await this.events.publish(buildTopic(id), { id });
    if (b) await this.events.publish(repoBuildsTopic(b.repo.name), { id });
    if (alsoRepo && alsoRepo !== b?.repo.name) await this.events.publish(repoBuildsTopic(alsoRepo), { id });
    await this.events.publish(allBuildsTopic, { id });
  }

  // --- create, upload, refs ------------------------------------------------------------------

  async create(viewer: Viewer, input: CreateBuildInput, git?: GitBuildExtras): Promise<BuildWithRepo> {
    requireClaims(viewer, 'build', 'build');
    requireRepo(viewer, input.repo);
    const appId = input.appId ?? null;
    if (appId !== null) {
      if (!isValidAppId(appId)) throw new InvalidInputError(`Invalid app id ${appId}`, 'app-id');
      requirePrefix(viewer, appId);
    }
    requireGrant(viewer, 'build', { repo: input.repo, appId });
    if (input.buildLogUrl != null && input.buildLogUrl.length > 1024) throw new InvalidInputError('build-log-url is too long', 'build-log-url');
    const repo = await this.repos.get(input.repo);
    const build = await this.prisma.build.create({
      data: {
        repoId: repo.id,
        appId,
        // flat-manager: public unless the build names an app id.
        publicDownload: input.publicDownload ?? appId === null,
        buildLogUrl: input.buildLogUrl ?? null,
        extraIds: [],
        creatorTokenId: viewer.claims.jti ?? null,
        ...(git
          ? {
              // A git build's refs come from its build job, not from uploads.
              state: 'WAITING' as const,
              buildSetId: git.buildSetId ?? null,
              source: { create: git.source },
              dependsOn: { create: (git.dependsOn ?? []).map((dependsOnId) => ({ dependsOnId })) },
            }
          : {}),
      },
      include: { repo: true },
    });
    try {
      const mainRepo = this.repos.repoPath(repo.name);
      await rm(this.buildPath(build.id), { recursive: true, force: true }); // a leftover of a dropped database
      await initRepoWithParent(this.buildPath(build.id), mainRepo);
      await initRepoWithParent(this.uploadPath(build.id), mainRepo);
    } catch (err) {
      await this.prisma.build.delete({ where: { id: build.id } }).catch(() => undefined);
      await rm(this.buildPath(build.id), { recursive: true, force: true });
      throw err;
    }
    await this.changed(build.id);
    return build;
  }

  /**
   * flat-manager's missing_objects: which of the object names in a `{"wanted": [...]}` JSON body
   * neither the upload repo nor the main repo has, as the JSON answer `{"missing": [...]}`.
   */
  async missingObjects(viewer: Viewer, id: number, body: Buffer | undefined): Promise<Buffer> {
    const build = await this.getFor(viewer, id, 'upload');
    const upload = this.uploadPath(id);
    // After the commit the upload repo is gone: what the build repo holds counts.
    const repo = existsSync(upload) ? upload : this.buildPath(id);
    return this.missing.answer(body, { upload: repo, parent: this.repos.repoPath(build.repo.name) });
  }

  /** Stores each part of an upload request; answers the stored sizes (flat-manager's JSON array). */
  async upload(viewer: Viewer, id: number, parts: AsyncIterable<UploadPart>, declaredBytes = 0): Promise<number[]> {
    const build = await this.getFor(viewer, id, 'upload');
    requireStep(build, 'upload');
    const upload = this.uploadPath(id);
    await checkFreeSpace(upload, declaredBytes, this.limits);
    const sizes: number[] = [];
    const madeDirs = new Set<string>();
    // Each part is read to its end, then verified and written while the next ones are read
    // (receiveUpload); at most this much is in flight. The first part that fails, in request
    // order, is the answer, once every other has settled (stored, or removed).
    const pending = new Set<Promise<void>>();
    let inFlightBytes = 0;
    let failure: { index: number; err: unknown } | null = null;
    let sinceCheck = 0;
    try {
      for await (const part of parts) {
        const index = sizes.length;
        const { size, stored } = await receiveUpload(upload, part, this.limits, { madeDirs, store: (job) => this.uploadWorkers.store(job) });
        sizes.push(size);
        inFlightBytes += size;
        const settled: Promise<void> = stored
          .catch((err: unknown) => {
            if (!failure || index < failure.index) failure = { index, err };
          })
          .finally(() => {
            inFlightBytes -= size;
            pending.delete(settled);
          });
        pending.add(settled);
        while (!failure && (inFlightBytes > MAX_UPLOAD_IN_FLIGHT_BYTES || pending.size > MAX_UPLOAD_IN_FLIGHT_OBJECTS)) await Promise.race(pending);
        if (failure) break;
        sinceCheck += size;
        if (sinceCheck > 64 * 1024 ** 2) {
          sinceCheck = 0;
          await checkFreeSpace(upload, 0, this.limits);
        }
      }
    } finally {
      // Read to its end (or failed): what waits for a batch to fill goes now.
      this.uploadWorkers.flush();
      await Promise.all(pending);
    }
    if (failure) throw (failure as { err: unknown }).err;
    return sizes;
  }

  /** ref names flat-manager accepts: app/ID/ARCH/BRANCH, runtime/ID/ARCH/BRANCH, screenshots/ARCH. */
  validateRef(viewer: Viewer | null, ref: string): void {
    const parts = ref.split('/');
    const bad = () => new InvalidInputError(`Invalid ref_name ${ref}`, 'ref');
    if (parts[0] === 'screenshots') {
      if (parts.length !== 2 || !ARCH_RE.test(parts[1]!)) throw bad();
      return;
    }
    if (parts[0] !== 'app' && parts[0] !== 'runtime') throw bad();
    if (parts.length !== 4 || !isValidAppId(parts[1]!) || !ARCH_RE.test(parts[2]!) || !BRANCH_RE.test(parts[3]!)) throw bad();
    if (viewer) requirePrefix(viewer, parts[1]!);
  }

  async addRef(viewer: Viewer, id: number, input: { ref: string; commit: string; buildLogUrl?: string | null }): Promise<BuildRef> {
    requireClaims(viewer, `build/${id}`, 'upload');
    if (typeof input.ref !== 'string') throw new InvalidInputError('"ref" is required', 'ref');
    this.validateRef(viewer, input.ref);
    const build = await this.getFor(viewer, id, 'upload');
    if (build.appId && input.ref.split('/')[1] && !input.ref.startsWith('screenshots/')) {
      // The build's app id was checked against the token; its refs must belong to it.
      requirePrefix(viewer, input.ref.split('/')[1]!);
    }
    if (!input.ref.startsWith('screenshots/')) requireGrant(viewer, 'upload', { repo: build.repo.name, appId: input.ref.split('/')[1]! });
    requireStep(build, 'upload');
    if (typeof input.commit !== 'string' || !REF_COMMIT_RE.test(input.commit)) throw new InvalidInputError(`Invalid commit ${String(input.commit).slice(0, 80)}`, 'commit');
    const rel = path.join('objects', input.commit.slice(0, 2), `${input.commit.slice(2)}.commit`);
    if (!existsSync(path.join(this.uploadPath(id), rel)) && !existsSync(path.join(this.repos.repoPath(build.repo.name), rel))) {
      throw new InvalidInputError(`commit ${input.commit} has not been uploaded`, 'commit');
    }
    const ref = await this.prisma.buildRef.upsert({
      where: { buildId_refName: { buildId: id, refName: input.ref } },
      create: { buildId: id, refName: input.ref, commit: input.commit, buildLogUrl: input.buildLogUrl ?? null },
      update: { commit: input.commit, buildLogUrl: input.buildLogUrl ?? null },
    });
    await this.changed(id);
    return ref;
  }

  async getRef(viewer: Viewer, id: number, refId: number): Promise<BuildRef> {
    await this.getFor(viewer, id, 'build');
    const ref = await this.prisma.buildRef.findFirst({ where: { id: refId, buildId: id } });
    if (!ref) throw new NotFoundError('build ref', String(refId));
    return ref;
  }

  async addExtraIds(viewer: Viewer, id: number, ids: unknown): Promise<BuildWithRepo> {
    requireClaims(viewer, `build/${id}`, 'upload');
    if (!Array.isArray(ids) || ids.some((x) => typeof x !== 'string')) throw new InvalidInputError('"ids" must be an array of strings', 'ids');
    for (const x of ids as string[]) if (!EXTRA_ID_RE.test(x)) throw new InvalidInputError(`Invalid extra id ${x}`, 'ids');
    const build = await this.getFor(viewer, id, 'upload');
    const current = (build.extraIds as string[] | null) ?? [];
    const merged = [...current, ...(ids as string[]).filter((x, i, a) => !current.includes(x) && a.indexOf(x) === i)];
    await this.prisma.build.update({ where: { id }, data: { extraIds: merged } });
    await this.changed(id);
    return this.get(id);
  }

  // --- commit, publish, purge ----------------------------------------------------------------

  async commit(viewer: Viewer, id: number, input: CommitInput): Promise<Job> {
    const build = await this.getFor(viewer, id, 'build');
    if (input.tokenType != null && !Number.isInteger(input.tokenType)) throw new InvalidInputError('token_type must be an integer', 'token_type');
    checkEndOfLife(input);
    requireStep(build, 'commit');
    const eol = { endOfLife: input.endOfLife ?? null, endOfLifeRebase: input.endOfLifeRebase ?? null, tokenType: input.tokenType ?? null };
    if (!(await this.applyStep(id, { step: 'commit' }, eol))) await this.refuseRace(id, 'commit');
    try {
      const job = await this.jobs.enqueue(
        'commit',
        { build: id, endoflife: input.endOfLife ?? null, endoflife_rebase: input.endOfLifeRebase ?? null, token_type: input.tokenType ?? null },
        { buildId: id },
      );
      await this.changed(id);
      return job;
    } catch (err) {
      await this.prisma.build.update({ where: { id }, data: { state: 'UPLOADING' } });
      throw err;
    }
  }

  async publish(viewer: Viewer, id: number): Promise<Job> {
    const build = await this.getFor(viewer, id, 'publish');
    requireStep(build, 'publish');
    if (!(await this.applyStep(id, { step: 'publish' }))) await this.refuseRace(id, 'publish');
    try {
      const job = await this.jobs.enqueue('publish', { build: id }, { buildId: id, repo: build.repo.name });
      await this.changed(id);
      return job;
    } catch (err) {
      await this.prisma.build.update({ where: { id }, data: { publishedState: build.publishedState } });
      throw err;
    }
  }

  /** Removes the build's repos from disk (flat-manager does it in the request). */
  async purge(viewer: Viewer, id: number): Promise<BuildWithRepo> {
    await this.getFor(viewer, id, 'build');
    if (!(await this.purgeNow(id))) await this.refuseRace(id, 'purge');
    return this.get(id);
  }

  /**
   * Purges a build with no rights check (retention): false when its state does not allow it now
   * (a request or a job got there first), which changes nothing.
   */
  async purgeNow(id: number): Promise<boolean> {
    if (!(await this.applyStep(id, { step: 'purge' }))) return false;
    let error: string | null = null;
    try {
      await this.removeBuildDir(id);
    } catch (err) {
      error = (err as Error).message;
    }
    await this.applyStep(id, error ? { step: 'purge-failed', reason: error } : { step: 'purged' });
    if (error) await this.removeUploadTemps(id).catch(() => undefined);
    await this.changed(id);
    return true;
  }

  /**
   * Flathub's superseding, after `published` was published into its repo: the older builds of its
   * app there that are READY and were never published (or whose publish failed) are marked
   * SUPERSEDED ("superseded by build N") and their repos removed, as a purge removes them; each
   * is announced. Builds without an app id, newer builds, and builds published, being published or
   * not committed yet are left alone. Answers the ids superseded.
   */
  async supersedeOlder(published: Pick<Build, 'id' | 'repoId' | 'appId'>): Promise<number[]> {
    if (!published.appId) return [];
    const older = await this.prisma.build.findMany({
      where: { repoId: published.repoId, appId: published.appId, id: { lt: published.id }, ...whereFrom('supersede-ready') },
      select: { id: true, appId: true },
      orderBy: { id: 'asc' },
      take: 1000,
    });
    const superseded: number[] = [];
    // The column compares without case; app ids do not.
    for (const { id } of older.filter((b) => b.appId === published.appId)) {
      // A publish or purge request that got there first keeps the build.
      if (!(await this.applyStep(id, { step: 'supersede-ready', reason: `superseded by build ${published.id}` }))) continue;
      try {
        await this.removeBuildDir(id);
      } catch (err) {
        this.log.warn({ err, buildId: id }, 'could not remove the repos of a superseded build');
        await this.removeUploadTemps(id).catch(() => undefined);
      }
      await this.changed(id);
      superseded.push(id);
    }
    return superseded;
  }

  /** Removes the build's repos from disk: one rename takes them away at once. */
  async removeBuildDir(id: number): Promise<void> {
    const dir = this.buildPath(id);
    if (!existsSync(dir)) return;
    // One rename takes it away at once; the slow removal follows.
    const trash = path.join(this.buildsDir, `.purged-${id}-${randomBytes(4).toString('hex')}`);
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
  }

  async republish(viewer: Viewer, repoName: string, input: RepublishInput): Promise<Job> {
    requireClaims(viewer, 'build', 'republish');
    if (typeof input.app !== 'string' || !isValidAppId(input.app)) throw new InvalidInputError(`Invalid app id ${String(input.app)}`, 'app');
    checkEndOfLife(input);
    requirePrefix(viewer, input.app);
    requireRepo(viewer, repoName);
    requireGrant(viewer, 'republish', { repo: repoName, appId: input.app });
    await this.repos.get(repoName);
    return this.jobs.enqueue(
      'republish',
      { repo: repoName, app: input.app, endoflife: input.endOfLife ?? null, endoflife_rebase: input.endOfLifeRebase ?? null },
      { repo: repoName },
    );
  }

  async prune(viewer: Viewer, repoName: string): Promise<Job> {
    requireClaims(viewer, 'build', 'generate');
    requireRepo(viewer, repoName);
    requireGrant(viewer, 'generate', { repo: repoName });
    await this.repos.get(repoName);
    return this.jobs.enqueue('prune', { repo: repoName }, { repo: repoName });
  }

  /** review_check: a reviewer sets a check's status (Passed, Failed, ReviewRequired, ...). */
  async reviewCheck(viewer: Viewer, jobId: number, input: { status: string; reason?: string | null; results?: string | null }): Promise<Check> {
    requireClaims(viewer, 'build', 'reviewcheck');
    const status = checkStatusFromWire[input.status] ?? (['PENDING', 'PASSED', 'FAILED', 'REVIEW_REQUIRED'].includes(input.status) ? (input.status as CheckStatus) : null);
    if (!status) throw new InvalidInputError(`unknown check status ${input.status}`, 'new-status');
    const check = await this.prisma.check.findFirst({ where: { jobId }, include: { build: { select: { appId: true, repo: { select: { name: true } } } } } });
    if (!check) throw new NotFoundError('check of job', String(jobId));
    requireGrant(viewer, 'reviewcheck', { repo: check.build.repo.name, appId: check.build.appId });
    const results = { ...(check.results as object | null), ...(input.reason != null ? { reason: input.reason } : {}), ...(input.results != null ? { results: input.results } : {}), reviewed: true };
    await this.prisma.check.update({ where: { id: check.id }, data: { status, results } });
    await this.updateAfterChecks(check.buildId);
    return (await this.prisma.check.findUnique({ where: { id: check.id } }))!;
  }

  /** When every check is finished the build becomes READY, or FAILED if one failed. */
  async updateAfterChecks(buildId: number): Promise<void> {
    const checks = await this.checks(buildId);
    if (checks.some((c) => c.status === 'PENDING' || c.status === 'REVIEW_REQUIRED')) return;
    const failed = checks.filter((c) => c.status === 'FAILED').map((c) => c.name);
    const moved = await this.applyStep(buildId, { step: 'checks-over', failed });
    await this.changed(buildId);
    if (moved && failed.length === 0) await this.ready.emit(buildId);
  }

  // --- leftovers ------------------------------------------------------------------------------

  /**
   * Removes the temp files of uploads cut off by a dead process (kill -9, a crash) from every
   * upload repo; run at start. Files of live uploads stay (see removeUploadTemps).
   */
  async removeStaleUploads(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.buildsDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      if (/^\d+$/.test(name)) removed += await removeUploadTemps(this.uploadPath(Number(name)), { maxIdleMs: STALE_UPLOAD_MS });
    }
    if (removed) this.log.info({ removed }, 'removed the temp files of interrupted uploads');
    return removed;
  }

  /** A build is over (its commit failed, or it is purged): no upload of it is wanted any more. */
  async removeUploadTemps(id: number): Promise<void> {
    await removeUploadTemps(this.uploadPath(id), { all: true, maxIdleMs: 0 });
  }

  // --- what the jobs use ------------------------------------------------------------------

  /** Applies a step of the build state machine (lifecycle.ts) if the build is still in a state it may start from. */
  async applyStep(id: number, s: BuildStep, data: Prisma.BuildUpdateManyMutationInput = {}): Promise<boolean> {
    const { count } = await this.prisma.build.updateMany({ where: { id, ...whereFrom(s.step) }, data: { ...data, ...change(s) } });
    if (count === 1) await this.stepped.emit(id, s);
    return count === 1;
  }

  /** A request lost a race to another one: it gets the refusal of the state the build is in now. */
  private async refuseRace(id: number, step: BuildStepName): Promise<never> {
    const now = await this.prisma.build.findUnique({ where: { id } });
    throw (now && refusal(now, step)) ?? new BuildBusyError(`Build ${id} changed while the request ran; try again`);
  }

  /** A build with its repo and refs, for a job (which fails when the build is gone). */
  async forJob(id: number): Promise<Build & { repo: Repo; refs: BuildRef[] }> {
    const build = await this.prisma.build.findUnique({ where: { id }, include: { repo: true, refs: { orderBy: { id: 'asc' } } } });
    if (!build) throw new Error(`Can't load build ${id}`);
    return build;
  }

  /** A `.flatpakref` for app and (non-extension) runtime refs; `buildId` points it at the build repo. */
  flatpakrefFor(repo: Repo, refName: string, buildId: number | null): { name: string; contents: string } | null {
    const [kind, id, , branch] = refName.split('/');
    if (!id || !branch || (kind !== 'app' && kind !== 'runtime')) return null;
    if (kind === 'runtime' && UNWANTED_FLATPAKREF_EXTS.some((e) => id.endsWith(e))) return null;
    const base = this.config.baseUrl ?? `http://${this.config.host}:${this.config.port}`;
    const url = buildId !== null ? `${this.config.buildRepoBase ?? `${base}/build-repo`}/${buildId}` : (repo.baseUrl ?? `${base}/repo/${repo.name}`);
    const lines = ['[Flatpak Ref]', `Name=${id}`, `Branch=${branch}`, `Title=${id} from ${repo.title ?? repo.name}`, `Url=${url}`, `IsRuntime=${kind === 'runtime'}`];
    if (repo.suggestedRemoteName && buildId === null) lines.push(`SuggestRemoteName=${repo.suggestedRemoteName}`);
    if (repo.runtimeRepoUrl) lines.push(`RuntimeRepo=${repo.runtimeRepoUrl}`);
    if (repo.collectionId && repo.deployCollectionId && buildId === null) lines.push(`DeployCollectionID=${repo.collectionId}`);
    return { name: `${id}.flatpakref`, contents: `${lines.join('\n')}\n` };
  }

  /**
   * What a publish puts beside the refs: a `.flatpakref` per app in `appstream/`, and the files of
   * `screenshots/ARCH` refs under `media/`. `rev` is the ref's commit (or name) in `srcRepo`.
   */
  async installRefExtras(repo: Repo, srcRepo: string, refs: Array<{ ref: string; rev: string }>, run: JobRun, tools: ToolRunOptions): Promise<void> {
    const main = this.repos.repoPath(repo.name);
    await mkdir(path.join(main, 'appstream'), { recursive: true });
    for (const { ref, rev } of refs) {
      if (ref.startsWith('app/')) {
        const file = this.flatpakrefFor(repo, ref, null);
        if (file) {
          await run.log(`generating ${file.name}`);
          await writeFile(path.join(main, 'appstream', file.name), file.contents);
        }
      }
      if (ref.startsWith('screenshots/')) {
        await run.log(`extracting ${ref}`);
        await mkdir(path.join(main, 'media'), { recursive: true });
        await ostree.checkoutFiles(srcRepo, rev, path.join(main, 'media'), tools);
      }
    }
  }

  /**
   * After a republish, the build (or promotion) that put a republished head in the repo records
   * the new commit instead, so that promoting it later carries the republished content.
   */
  async followRepublish(repo: Repo, moved: Map<string, string>): Promise<void> {
    const swap = (refs: unknown): Record<string, string> | null => {
      const out = { ...((refs ?? {}) as Record<string, string>) };
      let changed = false;
      for (const [ref, commit] of Object.entries(out)) {
        const to = moved.get(commit);
        if (to) [out[ref], changed] = [to, true];
      }
      return changed ? out : null;
    };
    // The heads come from the latest publications; older ones point at older commits.
    const builds = await this.prisma.build.findMany({ where: { repoId: repo.id, publishedState: 'PUBLISHED' }, orderBy: { id: 'desc' }, take: 200 });
    for (const b of builds) {
      const refs = swap(b.publishedRefs);
      if (refs) await this.prisma.build.update({ where: { id: b.id }, data: { publishedRefs: refs } });
    }
    const promotions = await this.prisma.promotion.findMany({ where: { targetRepoId: repo.id, state: 'PROMOTED' }, orderBy: { id: 'desc' }, take: 200 });
    for (const p of promotions) {
      const refs = swap(p.refs);
      if (refs) await this.prisma.promotion.update({ where: { id: p.id }, data: { refs } });
    }
  }
}

/** End-of-life texts as the builds table holds them (a message, and the id apps move to). */
function checkEndOfLife(input: { endOfLife?: string | null; endOfLifeRebase?: string | null }): void {
  if (input.endOfLife != null && input.endOfLife.length > 4096) throw new InvalidInputError('endoflife is at most 4096 characters', 'endoflife');
  if (input.endOfLifeRebase != null && input.endOfLifeRebase.length > 255) throw new InvalidInputError('endoflife_rebase is at most 255 characters', 'endoflife_rebase');
}
