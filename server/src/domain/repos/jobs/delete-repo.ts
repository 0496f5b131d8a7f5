// The delete-repo job: a repo marked DELETING (RepoService.delete) loses its files, then its
// builds and its row. Idempotent (jobs are at-least-once): re-run after a crash.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PrismaClient } from '../../../generated/prisma/client.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import type { RepoService } from '../service.ts';
import { validateRepoName } from '../validate.ts';

export type DeleteRepoPayload = { name: string };

export type DeleteRepoJobDeps = { prisma: PrismaClient; repos: RepoService };

export function deleteRepoJob(deps: DeleteRepoJobDeps): JobKindDefinition<DeleteRepoPayload> {
  return { recovery: 'requeue', handler: (run) => deleteRepo(deps, run) };
}

async function deleteRepo({ prisma, repos }: DeleteRepoJobDeps, run: JobRun<DeleteRepoPayload>): Promise<Record<string, unknown>> {
  const name = validateRepoName(run.contents.name, 'contents.name');
  const repo = await prisma.repo.findUnique({ where: { name } });
  if (repo && repo.status !== 'DELETING') {
    await run.log(`repo ${name} is not marked for deletion; nothing to do`);
    return { deleted: false };
  }
  const dir = repos.repoPath(name);
  await mkdir(repos.reposDir, { recursive: true });
  if (existsSync(dir)) {
    // One rename takes the repo off its path at once; the slow removal happens out of sight.
    const trash = path.join(repos.reposDir, `.deleted-${name}-${randomBytes(4).toString('hex')}`);
    await rename(dir, trash);
    await run.log(`moved ${dir} aside`);
  }
  for (const f of await readdir(repos.reposDir)) {
    if (f.startsWith(`.deleted-${name}-`)) await rm(path.join(repos.reposDir, f), { recursive: true, force: true });
  }
  await run.progress(0.8, 'files removed');
  if (repo) {
    await prisma.$transaction([prisma.build.deleteMany({ where: { repoId: repo.id } }), prisma.repo.delete({ where: { id: repo.id } })]);
  }
  await run.log(`repo ${name} deleted`);
  return { deleted: true, name };
}
