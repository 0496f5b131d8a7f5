// flat-manager's token rules for builds: a required `sub` (build, build/<id>) with a scope,
// the token's repos, and the app-id prefixes a build's app id and refs must match.
import { ForbiddenError } from '../errors.ts';
import { appAllowed, hasScope, repoMatchesClaimed, subHasPrefix, type Scope } from '../tokens/claims.ts';
import type { Viewer } from '../tokens/service.ts';

/** has_token_claims: the token's sub covers `sub` and it holds one of `scopes`. */
export function requireClaims(viewer: Viewer, sub: string, scopes: Scope | readonly Scope[]): void {
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  if (!subHasPrefix(sub, viewer.claims.sub)) throw new ForbiddenError(`Not matching sub '${sub}' in token`);
  if (!list.some((s) => hasScope(viewer.claims, s))) {
    throw new ForbiddenError(`Not enough permissions: needs the ${list.map((s) => `"${s}"`).join(' or ')} scope`, list[0]);
  }
}

/** has_token_repo */
export function requireRepo(viewer: Viewer, repo: string): void {
  if (!repoMatchesClaimed(repo, viewer.claims.repos)) throw new ForbiddenError(`Not matching repo '${repo}' in token`);
}

/** has_token_prefix: the id matches one of the token's prefixes or is one of its apps. */
export function requirePrefix(viewer: Viewer, id: string): void {
  if (!appAllowed(viewer.claims, id)) throw new ForbiddenError(`Id ${id} not matching prefix in token`);
}

/** has_token_for_build: the build's repo, and its app id when it has one. */
export function requireBuildAccess(viewer: Viewer, build: { repoName: string; appId: string | null }): void {
  requireRepo(viewer, build.repoName);
  if (build.appId && !appAllowed(viewer.claims, build.appId)) throw new ForbiddenError("Build's app ID not matching prefix in token");
}
