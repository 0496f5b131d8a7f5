// Who may read user rows, and who is an fmd admin.
import type { Prisma } from '../../generated/prisma/client.ts';
import { ForbiddenError } from '../errors.ts';
import { hasScope } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/**
 * fmd's administrator: the `admin` scope on every repo and app id, from a token no role bounds
 * (an admin user's, or one signed with the shared secret). An `admin` scope that roles bound, or
 * that names some repos only, administers those repos' settings (`isRepoAdmin`), nothing more.
 */
export function isFmdAdmin(viewer: Pick<Viewer, 'claims' | 'grants'>): boolean {
  const c = viewer.claims;
  return hasScope(c, 'admin') && c.repos.includes('') && c.prefixes.includes('') && (viewer.grants ?? null) === null;
}

/** Admins read every user; others only the owner of their own token (none for tokens minted elsewhere). */
export function visibleUsersWhere(viewer: Viewer): Prisma.UserWhereInput {
  if (isFmdAdmin(viewer)) return {};
  return { id: { in: viewer.ownerId === null ? [] : [viewer.ownerId] } };
}

/**
 * The repos whose settings (repo settings, retention, webhooks) a viewer administers: null for
 * every repo. A token holds `admin` for the repos it names; a user's token only where a
 * REPO_ADMIN role for every app id of the repo (or of every repo) says so too.
 */
export function adminRepos(viewer: Pick<Viewer, 'claims' | 'grants'>): readonly string[] | null {
  const c = viewer.claims;
  if (!hasScope(c, 'admin')) return [];
  const claimed = c.repos.includes('') ? null : c.repos;
  if ((viewer.grants ?? null) === null) return claimed;
  const granted = viewer.grants!.filter((g) => g.scopes.includes('admin') && g.prefix === '').map((g) => g.repo);
  if (granted.includes('')) return claimed;
  return claimed === null ? granted : claimed.filter((r) => granted.includes(r));
}

export function requireRepoAdmin(viewer: Pick<Viewer, 'claims' | 'grants'>, repo: string): void {
  const repos = adminRepos(viewer);
  if (repos !== null && !repos.includes(repo)) {
    throw new ForbiddenError(hasScope(viewer.claims, 'admin') ? `Not matching repo '${repo}' in token` : 'Not enough permissions: needs the "admin" scope', 'admin');
  }
}
