// Builds: flat-manager's build lifecycle. A build is created against a repo with an upload
// repo under <data-dir>/builds/<id>/upload (parent: the main repo), receives objects and refs,
// is committed by a job into its build repo (<data-dir>/builds/<id>), optionally checked, and
// published by a job into the main repo, after which an update-repo job (debounced per repo)
// signs, makes deltas and writes the summary. REST, GraphQL and the jobs all call this.
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FmdConfig } from '../../config/index.ts';
import type { Build, BuildRef, Check, CheckStatus, Job, Prisma, PrismaClient, Repo } from '../../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { JobQueue, JobRun } from '../jobs/queue.ts';
import type { RepoService } from '../repos/service.ts';
import { isValidAppId } from '../repos/validate.ts';
import { readRefs } from '../repos/commits.ts';
import type { Viewer } from '../tokens/service.ts';
import { runTool } from '../../ostree/exec.ts';
import { buildCommitFrom, buildUpdateRepo } from '../../ostree/flatpak.ts';
import * as ostree from '../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../ostree/ostree.ts';
import { updateSummarySigned, writeCommitSignatures } from '../../ostree/signatures.ts';
import { requireBuildAccess, requireClaims, requirePrefix, requireRepo } from './access.ts';
import { BuildBusyError, checkStatusFromWire, stateName, WrongStateError } from './states.ts';
import {
  checkFreeSpace,
  defaultUploadLimits,
  initRepoWithParent,
  missingObjects,
  storeUpload,
  type UploadLimits,
  type UploadPart,
} from './upload-store.ts';

export const buildTopic = (id: number) => `build.updated.${id}`;
export const repoBuildsTopic = (repo: string) => `builds.updated.${repo}`;

export type BuildWithRepo = Build & { repo: Repo };

/** A build with what its flat-manager JSON needs. */
export type BuildDetails = BuildWithRepo & { commitJob: Job | null; publishJob: Job | null };

export type CreateBuildInput = { repo: string; appId?: string | null; publicDownload?: boolean | null; buildLogUrl?: string | null };
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
  /** called when a build's refs landed in a repo (its own, or a promotion's target): auto-promotion */
  afterPublish?: (buildId: number, repo: Repo, run: JobRun) => Promise<void>;

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

  uploadPath(id: number): string {
    return path.join(this.buildPath(id), 'upload');
  }

  // --- reading -------------------------------------------------------------------------------

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
    return build;
  }

  async details(build: BuildWithRepo): Promise<BuildDetails> {
    const jobs = await this.prisma.job.findMany({ where: { buildId: build.id, kind: { in: ['commit', 'publish'] } }, orderBy: { id: 'desc' } });
    return { ...build, commitJob: jobs.find((j) => j.kind === 'commit') ?? null, publishJob: jobs.find((j) => j.kind === 'publish') ?? null };
  }

  /** flat-manager's list: builds not purged, with that app id (or, without one, builds without an app id). */
  async list(viewer: Viewer, appId: string | null): Promise<BuildDetails[]> {
    requireClaims(viewer, 'build', ['build', 'download']);
    if (appId) requirePrefix(viewer, appId);
    const builds = await this.prisma.build.findMany({
      where: { state: { not: 'PURGED' }, appId: appId ?? null },
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

  /** Which builds a viewer may list through GraphQL: its repos and prefixes. */
  visibleWhere(viewer: Viewer): Prisma.BuildWhereInput {
    const c = viewer.claims;
    const repos = c.repos.includes('') || c.scope.includes('admin') ? {} : { repo: { name: { in: c.repos } } };
    if (c.prefixes.includes('') || c.scope.includes('admin')) return repos;
    const ids: Prisma.BuildWhereInput[] = [{ appId: null }, ...c.apps.map((a) => ({ appId: a }))];
    for (const p of c.prefixes) ids.push({ appId: p }, { appId: { startsWith: `${p}.` } });
    return { ...repos, OR: ids };
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
    if (build.state !== 'COMMITTING' && build.publishedState !== 'PUBLISHING') return build;
    const kind = build.state === 'COMMITTING' ? 'commit' : 'publish';
    const job = await this.prisma.job.findFirst({ where: { buildId: build.id, kind }, orderBy: { id: 'desc' } });
    if (!job || job.status !== 'BROKEN') return build;
    const reason = `${kind} job ${job.id} failed: ${job.error ?? 'unknown error'}`;
    if (kind === 'commit') {
      await this.prisma.build.updateMany({ where: { id: build.id, state: 'COMMITTING' }, data: { state: 'FAILED', stateReason: reason } });
    } else {
      await this.prisma.build.updateMany({ where: { id: build.id, publishedState: 'PUBLISHING' }, data: { publishedState: 'FAILED' } });
    }
    await this.changed(build.id);
    return (await this.prisma.build.findUnique({ where: { id: build.id }, include: { repo: true } }))!;
  }

  /** Tells subscribers of the build, of its repo and of `alsoRepo` (a promotion's target) that it changed. */
  async changed(id: number, alsoRepo?: string): Promise<void> {
    const b = await this.prisma.build.findUnique({ where: { id }, select: { id: true, repo: { select: { name: true } } } });
    await this.events.publish(buildTopic(id), { id });
    if (b) await this.events.publish(repoBuildsTopic(b.repo.name), { id });
    if (alsoRepo && alsoRepo !== b?.repo.name) await this.events.publish(repoBuildsTopic(alsoRepo), { id });
  }

  // --- create, upload, refs ------------------------------------------------------------------

  async create(viewer: Viewer, input: CreateBuildInput): Promise<BuildWithRepo> {
    requireClaims(viewer, 'build', 'build');
    requireRepo(viewer, input.repo);
    const appId = input.appId ?? null;
    if (appId !== null) {
      if (!isValidAppId(appId)) throw new InvalidInputError(`Invalid app id ${appId}`, 'app-id');
      requirePrefix(viewer, appId);
    }
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

  private requireUploading(build: Build): void {
    if (build.state !== 'UPLOADING') {
      throw new WrongStateError('repo', `Build is ${stateName(build.state)}, uploads are closed`, 'uploading', stateName(build.state));
    }
  }

  async missingObjects(viewer: Viewer, id: number, wanted: unknown): Promise<string[]> {
    const build = await this.getFor(viewer, id, 'upload');
    if (!Array.isArray(wanted)) throw new InvalidInputError('"wanted" must be an array of object names', 'wanted');
    const upload = this.uploadPath(id);
    // After the commit the upload repo is gone: what the build repo holds counts.
    const repo = existsSync(upload) ? upload : this.buildPath(id);
    return missingObjects(repo, this.repos.repoPath(build.repo.name), wanted as string[]);
  }

  /** Stores each part of an upload request; answers the stored sizes (flat-manager's JSON array). */
  async upload(viewer: Viewer, id: number, parts: AsyncIterable<UploadPart>, declaredBytes = 0): Promise<number[]> {
    const build = await this.getFor(viewer, id, 'upload');
    this.requireUploading(build);
    const upload = this.uploadPath(id);
    await checkFreeSpace(upload, declaredBytes, this.limits);
    const sizes: number[] = [];
    const madeDirs = new Set<string>();
    let sinceCheck = 0;
    for await (const part of parts) {
      const size = await storeUpload(upload, part, this.limits, madeDirs);
      sizes.push(size);
      sinceCheck += size;
      if (sinceCheck > 64 * 1024 ** 2) {
        sinceCheck = 0;
        await checkFreeSpace(upload, 0, this.limits);
      }
    }
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
    this.requireUploading(build);
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
    const wrong = (message: string) => new WrongStateError('repo', message, 'uploading', stateName(build.state));
    switch (build.state) {
      case 'UPLOADING':
        break;
      case 'COMMITTING':
        throw wrong('Build is currently being commited');
      case 'READY':
      case 'VALIDATING':
        throw wrong('Build is already commited');
      case 'FAILED':
        throw wrong(`Commit already failed: ${build.stateReason ?? 'Unknown reason'}`);
      default:
        throw wrong('Build has been purged');
    }
    const claimed = await this.prisma.build.updateMany({
      where: { id, state: 'UPLOADING' },
      data: { state: 'COMMITTING', endOfLife: input.endOfLife ?? null, endOfLifeRebase: input.endOfLifeRebase ?? null, tokenType: input.tokenType ?? null },
    });
    if (claimed.count !== 1) throw new WrongStateError('repo', 'Build is currently being commited', 'uploading', 'committing');
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
    const ps = stateName(build.publishedState);
    if (build.publishedState === 'PUBLISHING') throw new WrongStateError('published', 'Build is currently being published', 'unpublished', ps);
    if (build.publishedState === 'PUBLISHED') throw new WrongStateError('published', 'Build has already been published', 'unpublished', ps);
    // fmd leniency: a failed publish (FAILED) may be published again.
    const rs = stateName(build.state);
    if (build.state === 'UPLOADING' || build.state === 'COMMITTING' || build.state === 'VALIDATING') {
      throw new WrongStateError('repo', 'Build is not commited', 'ready', rs);
    }
    if (build.state === 'FAILED') throw new WrongStateError('repo', `Build failed: ${build.stateReason ?? 'Unknown reason'}`, 'ready', rs);
    if (build.state === 'PURGING' || build.state === 'PURGED') throw new WrongStateError('repo', 'Build has been purged', 'ready', rs);
    const claimed = await this.prisma.build.updateMany({
      where: { id, state: 'READY', publishedState: { in: ['UNPUBLISHED', 'FAILED'] } },
      data: { publishedState: 'PUBLISHING' },
    });
    if (claimed.count !== 1) throw new WrongStateError('published', 'Build is currently being published', 'unpublished', 'publishing');
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
    const claimed = await this.prisma.build.updateMany({
      where: { id, state: { notIn: ['COMMITTING', 'PURGING'] }, publishedState: { not: 'PUBLISHING' } },
      data: { state: 'PURGING' },
    });
    if (claimed.count !== 1) throw new BuildBusyError("Can't prune build while in use");
    let error: string | null = null;
    try {
      await this.removeBuildDir(id);
    } catch (err) {
      error = (err as Error).message;
    }
    await this.prisma.build.update({
      where: { id },
      data: error ? { state: 'FAILED', stateReason: `Failed to Purge build: ${error}` } : { state: 'PURGED' },
    });
    await this.changed(id);
    return this.get(id);
  }

  private async removeBuildDir(id: number): Promise<void> {
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
    requirePrefix(viewer, input.app);
    requireRepo(viewer, repoName);
    await this.repos.get(repoName);
    return this.jobs.enqueue(
      'republish',
      { app: input.app, endoflife: input.endOfLife ?? null, endoflife_rebase: input.endOfLifeRebase ?? null },
      { repo: repoName },
    );
  }

  async prune(viewer: Viewer, repoName: string): Promise<Job> {
    requireClaims(viewer, 'build', 'generate');
    requireRepo(viewer, repoName);
    await this.repos.get(repoName);
    return this.jobs.enqueue('prune', { repo: repoName }, { repo: repoName });
  }

  /** review_check: a reviewer sets a check's status (Passed, Failed, ReviewRequired, ...). */
  async reviewCheck(viewer: Viewer, jobId: number, input: { status: string; reason?: string | null; results?: string | null }): Promise<Check> {
    requireClaims(viewer, 'build', 'reviewcheck');
    const status = checkStatusFromWire[input.status] ?? (['PENDING', 'PASSED', 'FAILED', 'REVIEW_REQUIRED'].includes(input.status) ? (input.status as CheckStatus) : null);
    if (!status) throw new InvalidInputError(`unknown check status ${input.status}`, 'new-status');
    const check = await this.prisma.check.findFirst({ where: { jobId } });
    if (!check) throw new NotFoundError('check of job', String(jobId));
    const results = { ...(check.results as object | null), ...(input.reason != null ? { reason: input.reason } : {}), ...(input.results != null ? { results: input.results } : {}), reviewed: true };
    await this.prisma.check.update({ where: { id: check.id }, data: { status, results } });
    await this.updateAfterChecks(check.buildId);
    return (await this.prisma.check.findUnique({ where: { id: check.id } }))!;
  }

  /** When every check is finished the build becomes READY, or FAILED if one failed. */
  private async updateAfterChecks(buildId: number): Promise<void> {
    const checks = await this.checks(buildId);
    if (checks.some((c) => c.status === 'PENDING' || c.status === 'REVIEW_REQUIRED')) return;
    const failed = checks.filter((c) => c.status === 'FAILED');
    await this.prisma.build.updateMany({
      where: { id: buildId, state: 'VALIDATING' },
      data: failed.length ? { state: 'FAILED', stateReason: `check ${failed.map((c) => c.name).join(', ')} failed` } : { state: 'READY' },
    });
    await this.changed(buildId);
  }

  // --- jobs ----------------------------------------------------------------------------------

  private async loadForJob(run: JobRun): Promise<Build & { repo: Repo; refs: BuildRef[] }> {
    const id = Number(run.contents.build);
    const build = await this.prisma.build.findUnique({ where: { id }, include: { repo: true, refs: { orderBy: { id: 'asc' } } } });
    if (!build) throw new Error(`Can't load build ${id}`);
    return build;
  }

  /** The commit job: `build-commit-from --untrusted` of each ref from the upload repo into the build repo. */
  async commitJob(run: JobRun): Promise<Record<string, unknown>> {
    const build = await this.loadForJob(run);
    if (build.state !== 'COMMITTING') {
      await run.log(`build ${build.id} is ${stateName(build.state)}, not committing: nothing to do`);
      return { skipped: true };
    }
    const fail = async (reason: string) => {
      await this.prisma.build.updateMany({ where: { id: build.id, state: 'COMMITTING' }, data: { state: 'FAILED', stateReason: reason } });
      await this.changed(build.id);
    };
    if (run.job.attempts > 1) {
      // At-least-once: a commit interrupted by a dead worker fails cleanly instead of running twice.
      await fail('the commit was interrupted (worker stopped)');
      throw new Error('the commit was interrupted (worker stopped); create a new build');
    }
    const tools = toolRun(run);
    try {
      const commits = await this.doCommit(build, run, tools);
      await tools.flush();
      const checks = parseChecks(build.repo.hooks);
      if (checks.length === 0) {
        await this.prisma.build.updateMany({ where: { id: build.id, state: 'COMMITTING' }, data: { state: 'READY' } });
      } else {
        await this.prisma.build.updateMany({ where: { id: build.id, state: 'COMMITTING' }, data: { state: 'VALIDATING' } });
        for (const c of checks) {
          const row = await this.prisma.check.upsert({
            where: { buildId_name: { buildId: build.id, name: c.name } },
            create: { buildId: build.id, name: c.name },
            update: { status: 'PENDING', results: undefined },
          });
          const job = await this.jobs.enqueue('check', { build: build.id, name: c.name }, { buildId: build.id });
          await this.prisma.check.update({ where: { id: row.id }, data: { jobId: job.id } });
        }
        await run.log(`queued ${checks.length} check(s): ${checks.map((c) => c.name).join(', ')}`);
      }
      await this.changed(build.id);
      return { refs: commits };
    } catch (err) {
      await tools.flush();
      await fail((err as Error).message);
      throw err;
    }
  }

  private async doCommit(build: Build & { repo: Repo; refs: BuildRef[] }, run: JobRun, tools: ToolRunOptions): Promise<Record<string, string>> {
    if (build.refs.length === 0) throw new Error('No refs in build');
    const dir = this.buildPath(build.id);
    const upload = this.uploadPath(build.id);
    const appRef = build.refs.find((r) => r.refName.startsWith('app/'));
    const rebase = build.endOfLifeRebase && appRef ? [`${appRef.refName.split('/')[1]}=${build.endOfLifeRebase}`] : [];
    const tokenType = build.tokenType ?? (build.repo.defaultTokenType || undefined);
    const commits: Record<string, string> = {};
    for (const [i, ref] of build.refs.entries()) {
      await run.log(`Committing ref ${ref.refName} (${ref.commit})`);
      await buildCommitFrom(
        dir,
        {
          srcRepo: upload,
          srcRef: ref.commit,
          refs: [ref.refName],
          timestamp: 'NOW',
          noUpdateSummary: true,
          untrusted: true,
          force: true,
          disableFsync: true,
          endOfLife: build.endOfLife ?? undefined,
          endOfLifeRebase: rebase,
          tokenType,
        },
        tools,
      );
      const commit = await ostree.revParse(dir, ref.refName, tools);
      if (!commit) throw new Error(`ref ${ref.refName} missing after commit`);
      commits[ref.refName] = commit;
      await run.progress(((i + 1) / build.refs.length) * 0.7, `committed ${ref.refName}`);
    }
    for (const ref of build.refs) {
      const file = this.flatpakrefFor(build.repo, ref.refName, build.id);
      if (file) await writeFile(path.join(dir, file.name), file.contents);
    }
    // Appstream of the build (new appstream/ARCH commits), also checked out under appstream/ARCH
    // for check hooks, as flat-manager does; then every head is signed before the summary.
    await run.log('running build-update-repo');
    await buildUpdateRepo(dir, { noUpdateSummary: true }, tools);
    await run.log('extracting appstream');
    // build-update-repo makes no commit when the tree equals the main repo's (the build repo's
    // parent): then `appstream/ARCH` resolves to the main repo's commit, with the same content.
    const arches = new Set(build.refs.map((r) => r.refName.split('/')).map((p) => (p[0] === 'screenshots' ? p[1]! : p[2]!)));
    for (const arch of arches) {
      if (!(await ostree.revParse(dir, `appstream/${arch}`, tools))) continue;
      await mkdir(path.join(dir, 'appstream'), { recursive: true });
      await ostree.checkoutFiles(dir, `appstream/${arch}`, path.join(dir, 'appstream', arch), tools);
    }
    const keys = await this.repos.signingKeys(build.repo);
    const heads = new Set(Object.values(commits));
    for (const { ref, commit } of await readRefs(dir)) if (/^appstream2?\//.test(ref)) heads.add(commit);
    for (const commit of heads) if (keys.length) await writeCommitSignatures(dir, commit, keys);
    await updateSummarySigned(dir, keys, { run: tools });
    await run.log('Removing upload directory');
    await rm(this.uploadPath(build.id), { recursive: true, force: true });
    return commits;
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

  /** The publish job: the build's refs into the main repo, then an update-repo job (shared per repo). */
  async publishJob(run: JobRun): Promise<Record<string, unknown>> {
    const build = await this.loadForJob(run);
    if (build.publishedState !== 'PUBLISHING') {
      await run.log(`build ${build.id} is ${stateName(build.publishedState)}, not publishing: nothing to do`);
      return { skipped: true };
    }
    // The reason stays on the job (its error), where flat-manager's published_state_reason is read from.
    const fail = async () => {
      await this.prisma.build.updateMany({ where: { id: build.id, publishedState: 'PUBLISHING' }, data: { publishedState: 'FAILED' } });
      await this.changed(build.id);
    };
    if (run.job.attempts > 1) {
      // Whatever the dead worker left in the main repo is consistent (ostree writes refs last);
      // the summary is regenerated and signed, and the build may be published again.
      await this.repos.scheduleUpdate(build.repo.name, run);
      await fail();
      throw new Error('the publish was interrupted (worker stopped); publish the build again');
    }
    const tools = toolRun(run);
    try {
      const result = await this.doPublish(build, run, tools);
      await tools.flush();
      await this.prisma.build.updateMany({ where: { id: build.id, publishedState: 'PUBLISHING' }, data: { publishedState: 'PUBLISHED' } });
      await this.changed(build.id);
      await this.afterPublish?.(build.id, build.repo, run);
      return result;
    } catch (err) {
      await tools.flush();
      await fail();
      throw err;
    }
  }

  private async doPublish(build: Build & { repo: Repo; refs: BuildRef[] }, run: JobRun, tools: ToolRunOptions): Promise<Record<string, unknown>> {
    if (build.refs.length === 0) throw new Error('No refs in build');
    const repo = build.repo;
    const dir = this.buildPath(build.id);
    const main = this.repos.repoPath(repo.name);
    const hooks = (repo.hooks ?? {}) as { publish?: string[] | null };
    if (Array.isArray(hooks.publish) && hooks.publish.length) {
      await run.log('Running publish hook');
      await runTool(hooks.publish[0]!, hooks.publish.slice(1), {
        ...tools,
        cwd: dir,
        env: { ...process.env, FLAT_MANAGER_BUILD_ID: String(build.id), FLAT_MANAGER_IS_REPUBLISH: 'false' },
      });
    }
    const extra = repo.collectionId ? ((build.extraIds as string[] | null) ?? []).map((x) => `${repo.collectionId}.${x}`) : [];
    await run.log(`Importing build to repo ${repo.name}`);
    await buildCommitFrom(main, { srcRepo: dir, refs: build.refs.map((r) => r.refName), force: true, noUpdateSummary: true, extraCollectionIds: extra }, tools);
    await run.progress(0.7, 'imported');
    const commits: Record<string, string> = {};
    for (const ref of build.refs) {
      const c = await ostree.revParse(main, ref.refName, tools);
      if (c) commits[ref.refName] = c;
    }
    await this.installRefExtras(repo, dir, build.refs.map((r) => ({ ref: r.refName, rev: r.refName })), run, tools);
    await this.prisma.build.update({ where: { id: build.id }, data: { publishedRefs: commits } });
    const updateJob = await this.repos.scheduleUpdate(repo.name, run);
    await run.log(`Removing build ${build.id}`);
    await this.removeBuildDir(build.id).catch(() => run.log('Failed to remove build'));
    // flat-manager's job result lists the app and runtime commits.
    const appsAndRuntimes = Object.entries(commits).filter(([r]) => r.startsWith('app/') || r.startsWith('runtime/'));
    return { refs: Object.fromEntries(appsAndRuntimes), 'update-repo-job': updateJob.id };
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

  /** The update-repo job: the repos service's signed summary update, then the post-publish hook. */
  async updateRepoJob(run: JobRun): Promise<Record<string, unknown>> {
    const result = await this.repos.updateRepoJob(run);
    const name = String(run.contents.repo ?? run.job.repo ?? '');
    const repo = await this.repos.get(name);
    const hooks = (repo.hooks ?? {}) as { postPublish?: string[] | null };
    if (Array.isArray(hooks.postPublish) && hooks.postPublish.length) {
      const tools = toolRun(run);
      await run.log('Running post-publish hook');
      await runTool(hooks.postPublish[0]!, hooks.postPublish.slice(1), { ...tools, cwd: this.repos.repoPath(name), env: { ...process.env, FLAT_MANAGER_REPO: name } });
      await tools.flush();
    }
    return result;
  }

  /** The republish job: new commits of an app's refs (optionally end-of-life) in its repo. */
  async republishJob(run: JobRun): Promise<Record<string, unknown>> {
    const name = String(run.job.repo ?? '');
    const app = String(run.contents.app ?? '');
    const repo = await this.repos.get(name);
    const main = this.repos.repoPath(name);
    const tools = toolRun(run);
    const refs = (await ostree.listRefs(main, undefined, tools)).filter((r) => {
      const p = r.split('/');
      return (p[0] === 'app' || p[0] === 'runtime') && (p[1] === app || p[1]?.startsWith(`${app}.`));
    });
    if (refs.length === 0) throw new Error(`No refs of ${app} in repo ${name}`);
    const eol = run.contents.endoflife == null ? undefined : String(run.contents.endoflife);
    const rebase = run.contents.endoflife_rebase == null ? [] : [`${app}=${String(run.contents.endoflife_rebase)}`];
    // build-commit-from needs a separate source: a scratch repo whose parent is the main repo.
    const scratch = path.join(main, 'tmp', `republish-${run.job.id}`);
    await rm(scratch, { recursive: true, force: true });
    await initRepoWithParent(scratch, main);
    const commits: Record<string, string> = {};
    const moved = new Map<string, string>();
    try {
      for (const ref of refs) {
        const commit = await ostree.revParse(main, ref, tools);
        if (!commit) continue;
        await ostree.createRef(scratch, ref, commit, { force: true }, tools);
        await run.log(`Republishing ${ref} (${commit})`);
        await buildCommitFrom(main, { srcRepo: scratch, refs: [ref], force: true, noUpdateSummary: true, endOfLife: eol, endOfLifeRebase: rebase }, tools);
        commits[ref] = (await ostree.revParse(main, ref, tools))!;
        moved.set(commit, commits[ref]);
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    await this.followRepublish(repo, moved);
    const updateJob = await this.repos.scheduleUpdate(name, run);
    await tools.flush();
    return { refs: commits, 'update-repo-job': updateJob.id };
  }

  /**
   * After a republish, the build (or promotion) that put a republished head in the repo records
   * the new commit instead, so that promoting it later carries the republished content.
   */
  private async followRepublish(repo: Repo, moved: Map<string, string>): Promise<void> {
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

  /** The prune job: `build-update-repo --prune` (depth from the repo's delta settings), then a signed summary. */
  async pruneJob(run: JobRun): Promise<Record<string, unknown>> {
    const name = String(run.contents.repo ?? run.job.repo ?? '');
    const repo = await this.repos.get(name);
    const tools = toolRun(run);
    const depth = (repo.deltaSettings as { pruneDepth?: number } | null)?.pruneDepth;
    await run.log(`Pruning repo ${name}${depth !== undefined ? ` to depth ${depth}` : ''}`);
    await buildUpdateRepo(this.repos.repoPath(name), { noUpdateSummary: true, noUpdateAppstream: true, prune: true, pruneDepth: depth ?? 3 }, tools);
    await tools.flush();
    await this.repos.updateSummary(name, { signal: run.signal, log: (l) => void run.log(l) });
    return { pruned: true };
  }

  /** A check job: the repo's hook command for that check, run in the build repo. */
  async checkJob(run: JobRun): Promise<Record<string, unknown>> {
    const build = await this.loadForJob(run);
    const name = String(run.contents.name ?? '');
    const hook = parseChecks(build.repo.hooks).find((c) => c.name === name);
    const check = await this.prisma.check.findUnique({ where: { buildId_name: { buildId: build.id, name } } });
    if (!check || check.status !== 'PENDING') return { skipped: true };
    let status: CheckStatus = 'PASSED';
    let reason: string | null = null;
    if (hook) {
      const tools = toolRun(run);
      try {
        await runTool(hook.command[0]!, hook.command.slice(1), {
          ...tools,
          cwd: this.buildPath(build.id),
          env: { ...process.env, FLAT_MANAGER_BUILD_ID: String(build.id), FLAT_MANAGER_JOB_ID: String(run.job.id) },
        });
      } catch (err) {
        status = hook.reviewable ? 'REVIEW_REQUIRED' : 'FAILED';
        reason = (err as Error).message;
      }
      await tools.flush();
    } else {
      reason = 'check no longer configured';
    }
    await this.prisma.check.update({ where: { id: check.id }, data: { status, results: reason ? { reason } : {} } });
    await this.updateAfterChecks(build.id);
    return { status, ...(reason ? { reason } : {}) };
  }
}

/** Tool options for a job: output lines go to the job log; `flush` waits for them to be stored. */
export function toolRun(run: JobRun): ToolRunOptions & { flush(): Promise<void> } {
  const pending: Promise<void>[] = [];
  return {
    signal: run.signal,
    timeoutMs: 60 * 60_000,
    onLine: (l) => void pending.push(run.log(l)),
    flush: () => Promise.all(pending.splice(0)).then(() => undefined),
  };
}

type CheckHook = { name: string; command: string[]; reviewable: boolean };

function parseChecks(hooks: unknown): CheckHook[] {
  const checks = (hooks as { checks?: unknown } | null)?.checks;
  if (!Array.isArray(checks)) return [];
  return checks
    .filter((c): c is CheckHook => !!c && typeof c.name === 'string' && Array.isArray(c.command) && c.command.length > 0)
    .map((c) => ({ name: c.name, command: c.command.map(String), reviewable: !!c.reviewable }));
}
