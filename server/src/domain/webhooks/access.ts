// Who may see and manage webhooks: they send a repo's events (and, global ones, every repo's)
// to a URL of the caller's choosing, so they are repo settings: the `admin` scope. An admin token
// restricted to some repos (`repos` without "") manages the webhooks of those repos only; a
// global webhook (no repo) receives every repo's events and needs an unrestricted admin.
import type { Prisma } from '../../generated/prisma/client.ts';
import { ForbiddenError } from '../errors.ts';
import { hasScope } from '../tokens/claims.ts';
import { adminRepos, isFmdAdmin, requireRepoAdmin } from '../users/access.ts';
import type { Viewer } from '../tokens/service.ts';

function requireAdmin(viewer: Viewer): void {
  if (!hasScope(viewer.claims, 'admin')) throw new ForbiddenError('Not enough permissions: webhooks need the "admin" scope', 'admin');
}

/** Webhooks a viewer may list and read. Throws for a token without `admin`. */
export function visibleWebhooksWhere(viewer: Viewer): Prisma.WebhookWhereInput {
  requireAdmin(viewer);
  const repos = adminRepos(viewer);
  if (repos === null) return isFmdAdmin(viewer) ? {} : { repoId: { not: null } };
  return { repo: { name: { in: [...repos] } } };
}

/** May create, change, delete or test a webhook of `repo` (null: a global one). */
export function requireWebhookManagement(viewer: Viewer, repo: string | null): void {
  requireAdmin(viewer);
  if (repo === null) {
    if (!isFmdAdmin(viewer)) throw new ForbiddenError('a global webhook (no repo) needs an fmd admin');
    return;
  }
  requireRepoAdmin(viewer, repo);
}
