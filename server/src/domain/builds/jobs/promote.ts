// The promote job: a promotion's commits, as published in its source repo, into its target repo
// the way the publish job does it (build-commit-from, .flatpakref files and screenshots, a shared
// update-repo job). An automatic promotion re-checks its rule and leaves out refs superseded while
// it waited. Whatever listens to builds landing in a repo (the next auto-promotion of a chain)
// hears of it before the job ends.
import { existsSync } from 'node:fs';
import type { Prisma, PrismaClient, Promotion } from '../../../generated/prisma/client.ts';
import { buildCommitFrom } from '../../../ostree/flatpak.ts';
import * as ostree from '../../../ostree/ostree.ts';
import { commitObjectPath } from '../../../ostree/signatures.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { toolRun } from '../../jobs/tool-run.ts';
import type { RepoService } from '../../repos/service.ts';
import { parseAutoPromote } from '../../repos/validate.ts';
import { ruleTakes, type PromotionService } from '../promotions.ts';
import type { BuildService } from '../service.ts';

export type PromotePayload = { build: number; promotion: number };

export type PromoteJobDeps = { prisma: PrismaClient; builds: BuildService; repos: RepoService; promotions: PromotionService };

export function promoteJob(deps: PromoteJobDeps): JobKindDefinition<PromotePayload> {
  // Requeued after a crash so that the handler fails the promotion cleanly and refreshes the summary.
  return { recovery: 'requeue', handler: (run) => promote(deps, run) };
}

async function promote({ prisma, builds, repos, promotions }: PromoteJobDeps, run: JobRun<PromotePayload>): Promise<Record<string, unknown>> {
  const id = run.contents.promotion;
  const p = await prisma.promotion.findUnique({ where: { id }, include: { sourceRepo: true, targetRepo: true } });
  if (!p) {
    await run.log(`promotion ${id} is gone (its repo was deleted): nothing to do`);
    return { skipped: true };
  }
  if (p.state !== 'PROMOTING') {
    await run.log(`promotion ${id} is ${p.state.toLowerCase()}: nothing to do`);
    return { skipped: true };
  }
  const target = p.targetRepo;
  const finish = async (state: Promotion['state'], data: Prisma.PromotionUpdateManyMutationInput) => {
    await prisma.promotion.updateMany({ where: { id, state: 'PROMOTING' }, data: { state, activeKey: null, ...data } });
    await builds.changed(p.buildId, target.name);
  };
  if (run.job.attempts > 1) {
    // As with publishes: whatever a dead worker left is consistent; refresh the summary, fail cleanly.
    await repos.scheduleUpdate(target.name, run);
    await finish('FAILED', { reason: 'the promotion was interrupted (worker stopped); promote the build again' });
    throw new Error('the promotion was interrupted (worker stopped); promote the build again');
  }
  const tools = toolRun(run);
  let skippedNote: string | null = null;
  try {
    const build = await promotions.loadBuild(p.buildId);
    const published = { ...(await promotions.publishedIn(build, p.sourceRepo)) };
    const src = repos.repoPath(p.sourceRepo.name);
    if (p.auto) {
      // The rule may have changed while the promotion waited: it must still take the build.
      const target = await prisma.repo.findUniqueOrThrow({ where: { id: p.targetRepoId } });
      const rule = parseAutoPromote(target.autoPromote);
      if (target.parentId !== p.sourceRepoId || !rule || !ruleTakes(rule, build)) {
        const reason = `the autoPromote rule of repo ${target.name} no longer takes this build`;
        await run.log(`Skipping promotion: ${reason}`);
        await finish('SKIPPED', { reason });
        return { skipped: true, reason };
      }
      // Refs a newer build replaced in the source while this one waited out its delay are left
      // to that build's own promotion; the rest go on.
      const superseded: string[] = [];
      for (const [ref, commit] of Object.entries(published)) {
        const now = await ostree.revParse(src, ref, tools);
        if (now !== commit) {
          superseded.push(`${ref} (now ${now ?? 'gone'})`);
          delete published[ref];
        }
      }
      if (superseded.length) await run.log(`Leaving out refs superseded in repo ${p.sourceRepo.name}: ${superseded.join(', ')}`);
      if (Object.keys(published).length === 0) {
        const reason = `superseded: ${superseded.join(', ')} in repo ${p.sourceRepo.name}`;
        await finish('SKIPPED', { reason });
        return { skipped: true, reason };
      }
      skippedNote = superseded.length ? `left out, superseded in repo ${p.sourceRepo.name}: ${superseded.join(', ')}` : null;
    }
    for (const [ref, commit] of Object.entries(published)) {
      if (!existsSync(commitObjectPath(src, commit, 'commit'))) {
        throw new Error(`commit ${commit} of ${ref} is no longer in repo ${p.sourceRepo.name} (pruned)`);
      }
    }
    const main = repos.repoPath(target.name);
    const extra = target.collectionId ? ((build.extraIds as string[] | null) ?? []).map((x) => `${target.collectionId}.${x}`) : [];
    const commits: Record<string, string> = {};
    const entries = Object.entries(published);
    for (const [i, [ref, commit]] of entries.entries()) {
      await run.log(`Promoting ${ref} (${commit}) from repo ${p.sourceRepo.name} to repo ${target.name}`);
      await buildCommitFrom(main, { srcRepo: src, srcRef: commit, refs: [ref], force: true, noUpdateSummary: true, extraCollectionIds: extra }, tools);
      const made = await ostree.revParse(main, ref, tools);
      if (!made) throw new Error(`ref ${ref} missing in repo ${target.name} after the import`);
      commits[ref] = made;
      await run.progress(((i + 1) / entries.length) * 0.8, `promoted ${ref}`);
    }
    await builds.installRefExtras(target, src, Object.entries(published).map(([ref, rev]) => ({ ref, rev })), run, tools);
    const updateJob = await repos.scheduleUpdate(target.name, run);
    await tools.flush();
    await finish('PROMOTED', { refs: commits, reason: skippedNote });
    await builds.landed.emit(build.id, target, run);
    return { refs: commits, promotion: id, 'update-repo-job': updateJob.id };
  } catch (err) {
    await tools.flush();
    await finish('FAILED', { reason: (err as Error).message });
    throw err;
  }
}
