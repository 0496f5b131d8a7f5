// Who may read which jobs (their contents, results and logs).
import { isFmdAdmin } from '../users/access.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
import { ForbiddenError } from '../errors.ts';
import { buildVisibility, buildVisibilityWhere, buildVisible, noRows, type BuildVisibility } from '../builds/access.ts';
import { hasScope, subHasPrefix } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/**
 * Which jobs a viewer may read: admins, and `jobs` tokens whose sub covers `build` (flat-manager's
 * GET /job/<id>), all of them (null); `build` tokens the jobs of the builds they may read. Throws
 * ForbiddenError for any other token. As data, for visibleJobsWhere and jobVisible alike.
 */
export function jobVisibility(viewer: Viewer): null | { builds: BuildVisibility } {
  const c = viewer.claims;
  const boundByRoles = (viewer.grants ?? null) !== null;
  if (isFmdAdmin(viewer) || (hasScope(c, 'jobs') && subHasPrefix('build', c.sub) && !boundByRoles)) return null;
  // A user's token: the jobs of the builds its roles let it read.
  if (hasScope(c, 'build') || (boundByRoles && hasScope(c, 'jobs'))) return { builds: buildVisibility(viewer) };
  throw new ForbiddenError('Not enough permissions: needs the "jobs" scope (or "build" for the jobs of your builds)', 'jobs');
}

/** jobVisibility as a Prisma filter. */
export function visibleJobsWhere(viewer: Viewer): Prisma.JobWhereInput {
  const v = jobVisibility(viewer);
  return v === null ? {} : { buildId: { not: null }, build: buildVisibilityWhere(v.builds) };
}

/** jobVisibility applied in memory to a job read with its build (subscription fan-out). */
export function jobVisible(v: ReturnType<typeof jobVisibility>, job: { build: { id: number; appId: string | null; repo: { name: string } } | null }): boolean {
  if (v === null) return true;
  return job.build !== null && buildVisible(v.builds, { id: job.build.id, repoName: job.build.repo.name, appId: job.build.appId });
}

/** visibleJobsWhere for lists reached through another row (a build's jobs): none instead of an error. */
export function readableJobsWhere(viewer: Viewer | null): Prisma.JobWhereInput {
  if (!viewer) return noRows;
  try {
    return visibleJobsWhere(viewer);
  } catch (err) {
    if (err instanceof ForbiddenError) return noRows;
    throw err;
  }
}
