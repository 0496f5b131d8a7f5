// Who may read which jobs (their contents, results and logs).
import type { Prisma } from '../../generated/prisma/client.ts';
import { ForbiddenError } from '../errors.ts';
import { noRows, visibleBuildsWhere } from '../builds/access.ts';
import { hasScope, subHasPrefix } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/**
 * Which jobs a viewer may read: admins, and `jobs` tokens whose sub covers `build` (flat-manager's
 * GET /job/<id>), all of them; `build` tokens the jobs of the builds they may read. Throws
 * ForbiddenError for any other token.
 */
export function visibleJobsWhere(viewer: Viewer): Prisma.JobWhereInput {
  const c = viewer.claims;
  if (hasScope(c, 'admin') || (hasScope(c, 'jobs') && subHasPrefix('build', c.sub))) return {};
  if (hasScope(c, 'build')) return { build: visibleBuildsWhere(viewer) };
  throw new ForbiddenError('Not enough permissions: needs the "jobs" scope (or "build" for the jobs of your builds)', 'jobs');
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
