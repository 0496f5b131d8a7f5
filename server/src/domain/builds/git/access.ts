// Who may see and manage a repo's git credentials and git sources. Both are part of building
// into a repo: the tokens that may create builds there (scope `build`, a sub that covers `build`,
// the repo among their repos) may manage them, and admins may manage all. A git source that
// names an app id also needs the token's prefixes (or apps) to cover it, as a build of it would.
import { isFmdAdmin } from '../../users/access.ts';
import type { Prisma } from '../../../generated/prisma/client.ts';
import { ForbiddenError } from '../../errors.ts';
import { appAllowed, hasScope, repoMatchesClaimed, subHasPrefix } from '../../tokens/claims.ts';
import type { Viewer } from '../../tokens/service.ts';
import { likeLiteral } from '../access.ts';

const isAdmin = (viewer: Viewer) => isFmdAdmin(viewer);

/** The token may create builds somewhere (flat-manager's has_token_claims("build", "build")). */
function requireBuilder(viewer: Viewer): void {
  if (!hasScope(viewer.claims, 'build')) throw new ForbiddenError('Not enough permissions: needs the "build" scope', 'build');
  if (!subHasPrefix('build', viewer.claims.sub)) throw new ForbiddenError(`Not matching sub 'build' in token`);
}

/** The repos a builder's token names, as a Prisma condition on the repo's name (undefined: all). */
function repoNames(viewer: Viewer): { name: { in: string[] } } | undefined {
  return viewer.claims.repos.includes('') ? undefined : { name: { in: viewer.claims.repos } };
}

/** Credentials a viewer may list: admins all, builders those of their repos. Throws when none can match. */
export function visibleGitCredentialsWhere(viewer: Viewer): Prisma.GitCredentialWhereInput {
  if (isAdmin(viewer)) return {};
  requireBuilder(viewer);
  const names = repoNames(viewer);
  return names ? { repo: names } : {};
}

/** Git sources a viewer may list: admins all, builders those of their repos whose app id (if any) they cover. */
export function visibleGitSourcesWhere(viewer: Viewer): Prisma.GitSourceWhereInput {
  if (isAdmin(viewer)) return {};
  requireBuilder(viewer);
  const and: Prisma.GitSourceWhereInput[] = [];
  const names = repoNames(viewer);
  if (names) and.push({ repo: names });
  const c = viewer.claims;
  if (!c.prefixes.includes('')) {
    const ids: Prisma.GitSourceWhereInput[] = [{ appId: null }, ...c.apps.map((a) => ({ appId: a }))];
    for (const p of c.prefixes) ids.push({ appId: p }, { appId: { startsWith: `${likeLiteral(p)}.` } });
    and.push({ OR: ids });
  }
  return and.length ? { AND: and } : {};
}

/** May create or delete credentials of `repo`. */
export function requireGitCredentialManagement(viewer: Viewer, repo: string): void {
  if (isAdmin(viewer)) return;
  requireBuilder(viewer);
  if (!repoMatchesClaimed(repo, viewer.claims.repos)) throw new ForbiddenError(`Not matching repo '${repo}' in token`);
}

/** May delete or rotate a git source of `repo` building `appId`. */
export function requireGitSourceManagement(viewer: Viewer, source: { repo: string; appId: string | null }): void {
  if (isAdmin(viewer)) return;
  requireBuilder(viewer);
  if (!repoMatchesClaimed(source.repo, viewer.claims.repos)) throw new ForbiddenError(`Not matching repo '${source.repo}' in token`);
  if (source.appId && !appAllowed(viewer.claims, source.appId)) throw new ForbiddenError(`Id ${source.appId} not matching prefix in token`);
}

/**
 * May register a git source: its builds act with the registering token's rights, so that token
 * must be able to create the builds itself (admin alone is not enough: a build needs `build`),
 * and fmd must be able to tell when it is revoked (it has a jti).
 */
export function requireGitSourceRegistration(viewer: Viewer, source: { repo: string; appId: string | null }): void {
  requireBuilder(viewer);
  if (!repoMatchesClaimed(source.repo, viewer.claims.repos)) throw new ForbiddenError(`Not matching repo '${source.repo}' in token`);
  if (source.appId && !appAllowed(viewer.claims, source.appId)) throw new ForbiddenError(`Id ${source.appId} not matching prefix in token`);
  if (!viewer.claims.jti) {
    throw new ForbiddenError('registering a git source needs a token with a token id (jti): its builds act with the token, and stop when it is revoked');
  }
}
