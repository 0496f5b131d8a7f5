// Promotion: a build already published in a repo (beta) is published again, commit for commit,
// into a child repo (stable: its `parent` is beta), by a `promote` job that takes the publish
// job's steps (build-commit-from into the repo, .flatpakref and screenshots, a shared update-repo
// job) but is not the build's publish for flat-manager's clients. A repo's `autoPromote` rule
// does it on its own whenever a build lands in its parent. Chains work: a build promoted into stable can go on to stable's children.
import { requireGrant } from '../users/roles.ts';
import type { Logger } from 'pino';
import type { Build, BuildRef, Job, Prisma, PrismaClient, Promotion, Repo } from '../../generated/prisma/client.ts';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import type { JobQueue, JobRun } from '../jobs/queue.ts';
import type { RepoService } from '../repos/service.ts';
import { parseAutoPromote, type AutoPromoteRule } from '../repos/validate.ts';
import type { Viewer } from '../tokens/service.ts';
import * as ostree from '../../ostree/ostree.ts';
import { requireRepo } from './access.ts';
import type { BuildService } from './service.ts';
import { stateName, WrongStateError } from './states.ts';

export type PromotionWithRepos = Promotion & { sourceRepo: Repo; targetRepo: Repo };
export type BuildForPromotion = Build & { repo: Repo; refs: BuildRef[] };

export class PromotionService {
  private readonly prisma: PrismaClient;
  private readonly repos: RepoService;
  private readonly builds: BuildService;
  private readonly jobs: JobQueue;
  private readonly log: Logger;

  constructor(deps: { prisma: PrismaClient; repos: RepoService; builds: BuildService; jobs: JobQueue; log: Logger }) {
    this.prisma = deps.prisma;
    this.repos = deps.repos;
    this.builds = deps.builds;
    this.jobs = deps.jobs;
    this.log = deps.log;
  }

  /** A repo is being deleted: promotions waiting to go into or out of it fail, their jobs cancelled. */
  async endForRepo(repo: Repo): Promise<void> {
    const waiting = await this.prisma.promotion.findMany({ where: { state: 'PROMOTING', OR: [{ targetRepoId: repo.id }, { sourceRepoId: repo.id }] } });
    for (const p of waiting) {
      const ended = await this.prisma.promotion.updateMany({ where: { id: p.id, state: 'PROMOTING' }, data: { state: 'FAILED', reason: `repo ${repo.name} was deleted`, activeKey: null } });
      if (ended.count && p.jobId !== null) await this.jobs.cancel(p.jobId).catch(() => undefined);
      await this.builds.changed(p.buildId, repo.name);
    }
  }

  /** promoteBuild: the build, as published in the target's parent repo, into the target repo. */
  async promote(viewer: Viewer, buildId: number, targetName: string): Promise<{ promotion: Promotion; job: Job }> {
    const build = await this.builds.getFor(viewer, buildId, 'publish');
    if (typeof targetName !== 'string' || !targetName) throw new InvalidInputError('the target repo is required', 'targetRepo');
    requireRepo(viewer, targetName);
    requireGrant(viewer, 'publish', { repo: targetName, appId: build.appId });
    const target = await this.repos.get(targetName).catch((err: unknown) => {
      throw err instanceof NotFoundError ? new InvalidInputError(`repo ${targetName} does not exist`, 'targetRepo') : err;
    });
    if (target.parentId === null) {
      throw new InvalidInputError(`repo ${target.name} has no parent repo to promote from; set its parent first`, 'targetRepo');
    }
    const source = await this.prisma.repo.findUniqueOrThrow({ where: { id: target.parentId } });
    if (source.status !== 'ACTIVE') throw new InvalidInputError(`repo ${target.name} takes promotions from ${source.name}, which is being deleted`, 'targetRepo');
    const full = await this.loadBuild(build.id);
    const commits = await this.publishedIn(full, source).catch(async (err: unknown) => {
      // Not published in its own repo (yet): that error stands. Not in another parent: say where it is.
      if (source.id === full.repoId) throw err;
      const promotedTo = await this.prisma.promotion.findMany({ where: { buildId: full.id, state: 'PROMOTED' }, select: { targetRepo: { select: { name: true } } } });
      const where = [...new Set([full.repo.name, ...promotedTo.map((p) => p.targetRepo.name)])].join(', ');
      throw new InvalidInputError(`repo ${target.name} takes promotions from ${source.name}, where build ${full.id} is not (it is in: ${where})`, 'targetRepo');
    });
    const last = await this.lastPromotion(full.id, target.id);
    const main = this.repos.repoPath(target.name);
    const lastRefs = Object.entries((last?.refs ?? {}) as Record<string, string>);
    if (last && lastRefs.length === Object.keys(commits).length) {
      const heads = await Promise.all(lastRefs.map(([ref]) => ostree.revParse(main, ref)));
      if (lastRefs.every(([, commit], i) => heads[i] === commit)) {
        throw new WrongStateError('published', `Build ${full.id} is already promoted: repo ${target.name} serves its commits (promotion ${last.id})`, 'published', 'promoted');
      }
    }
    return this.start(full, source, target, { auto: false, delaySecs: 0 });
  }

  private lastPromotion(buildId: number, repoId: number): Promise<Promotion | null> {
    return this.prisma.promotion.findFirst({ where: { buildId, targetRepoId: repoId, state: 'PROMOTED' }, orderBy: { id: 'desc' } });
  }

  /**
   * A build's promotions, oldest first. `query` (an include or select from the caller) loads
   * related rows in the same read, so a promotion deleted meanwhile is simply not listed.
   */
  async list(buildId: number, query: Pick<Prisma.PromotionFindManyArgs, 'include'> = {}): Promise<Promotion[]> {
    const rows = await this.prisma.promotion.findMany({ ...query, where: { buildId }, orderBy: { id: 'asc' } });
    return Promise.all(rows.map((p) => this.reconcile(p)));
  }

  /**
   * The commits a build has in `repo`: its own publish there, or its last promotion into it.
   * Throws flat-manager's wrong-published-state when it has none.
   */
  async publishedIn(build: BuildForPromotion, repo: Repo): Promise<Record<string, string>> {
    if (build.repoId === repo.id) {
      const refs = build.publishedRefs as Record<string, string> | null;
      if (build.publishedState === 'PUBLISHED' && refs && Object.keys(refs).length) return refs;
      const state = stateName(build.publishedState);
      throw new WrongStateError('published', `Build ${build.id} is ${state} in repo ${repo.name}; only published builds can be promoted`, 'published', state);
    }
    const refs = (await this.lastPromotion(build.id, repo.id))?.refs as Record<string, string> | null | undefined;
    if (refs && Object.keys(refs).length) return refs;
    throw new WrongStateError('published', `Build ${build.id} has not been published or promoted in repo ${repo.name}`, 'published', 'unpublished');
  }

  async loadBuild(id: number): Promise<BuildForPromotion> {
    const build = await this.prisma.build.findUnique({ where: { id }, include: { repo: true, refs: { orderBy: { id: 'asc' } } } });
    if (!build) throw new NotFoundError('build', String(id));
    return build;
  }

  /** A promotion row and its promote job; one running promotion per build and target repo. */
  private async start(
    build: BuildForPromotion,
    source: Repo,
    target: Repo,
    o: { auto: boolean; delaySecs: number },
  ): Promise<{ promotion: Promotion; job: Job }> {
    const activeKey = `${build.id}:${target.id}`;
    await this.releaseStale(activeKey);
    let promotion: Promotion;
    try {
      promotion = await this.prisma.promotion.create({ data: { buildId: build.id, sourceRepoId: source.id, targetRepoId: target.id, auto: o.auto, activeKey } });
    } catch (err) {
      if ((err as { code?: string }).code !== 'P2002') throw err;
      throw new WrongStateError('published', `Build ${build.id} is already being promoted to repo ${target.name}`, 'published', 'promoting');
    }
    try {
      const startAfter = o.delaySecs > 0 ? new Date(Date.now() + o.delaySecs * 1000) : undefined;
      const job = await this.jobs.enqueue('promote', { build: build.id, promotion: promotion.id }, { buildId: build.id, repo: target.name, startAfter });
      promotion = await this.prisma.promotion.update({ where: { id: promotion.id }, data: { jobId: job.id } });
      await this.builds.changed(build.id, target.name);
      return { promotion, job };
    } catch (err) {
      await this.prisma.promotion.delete({ where: { id: promotion.id } }).catch(() => undefined);
      throw err;
    }
  }

  /** A running promotion whose job is over without saying so (cancelled, failed by recovery) is failed. */
  private async reconcile<P extends Promotion>(p: P): Promise<P> {
    if (p.state !== 'PROMOTING') return p;
    // A row whose job was never queued (the process stopped in between) is over after a minute.
    if (p.jobId === null && Date.now() - p.createdAt.getTime() < 60_000) return p;
    const job = p.jobId === null ? null : await this.prisma.job.findUnique({ where: { id: p.jobId } });
    if (job && job.status !== 'BROKEN' && job.status !== 'ENDED') return p;
    const reason = job ? `promote job ${job.id} ended without promoting: ${job.error ?? 'cancelled'}` : 'its job is gone';
    await this.prisma.promotion.updateMany({ where: { id: p.id, state: 'PROMOTING' }, data: { state: 'FAILED', reason, activeKey: null } });
    return { ...p, state: 'FAILED', reason, activeKey: null };
  }

  private async releaseStale(activeKey: string): Promise<void> {
    const active = await this.prisma.promotion.findUnique({ where: { activeKey }, include: { sourceRepo: true, targetRepo: true } });
    if (active) await this.reconcile(active);
  }

  /** After a build landed in `repo`: start the promotions of the child repos whose rule takes it. */
  async autoPromote(buildId: number, repo: Repo, run: Pick<JobRun, 'log'>): Promise<void> {
    try {
      await this.startAutoPromotions(buildId, repo, run);
    } catch (err) {
      // The build is published all the same: its job must not fail for this.
      await run.log(`Auto-promotions from repo ${repo.name} not started: ${(err as Error).message}`);
      this.log.warn({ err, build: buildId, repo: repo.name }, 'auto-promotions not started');
    }
  }

  private async startAutoPromotions(buildId: number, repo: Repo, run: Pick<JobRun, 'log'>): Promise<void> {
    const children = await this.prisma.repo.findMany({ where: { parentId: repo.id, status: 'ACTIVE' } });
    if (children.length === 0) return;
    const build = await this.loadBuild(buildId);
    for (const child of children) {
      const rule = parseAutoPromote(child.autoPromote);
      if (!rule || !ruleTakes(rule, build)) continue;
      try {
        const { promotion, job } = await this.start(build, repo, child, { auto: true, delaySecs: rule.delaySecs });
        await run.log(`Auto-promotion ${promotion.id} to repo ${child.name}: job ${job.id}${rule.delaySecs ? ` in ${rule.delaySecs} secs` : ''}`);
      } catch (err) {
        await run.log(`Auto-promotion to repo ${child.name} not started: ${(err as Error).message}`);
        this.log.warn({ err, build: buildId, repo: child.name }, 'auto-promotion not started');
      }
    }
  }
}

/** A rule takes a build when it names no prefixes, or every app/runtime id of the build has one. */
export function ruleTakes(rule: AutoPromoteRule, build: BuildForPromotion): boolean {
  if (rule.appIdPrefixes.length === 0) return true;
  const ids = build.refs.filter((r) => r.refName.startsWith('app/') || r.refName.startsWith('runtime/')).map((r) => r.refName.split('/')[1]!);
  if (ids.length === 0) return false;
  return ids.every((id) => rule.appIdPrefixes.some((p) => id === p || id.startsWith(`${p}.`)));
}
