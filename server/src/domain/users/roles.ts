// Roles: what a user may do on a repo ("" every repo) for the app ids under a prefix ("" every
// app id), as flat-manager scopes. A token a user owns acts with at most its owner's rights at
// the time of each request: its claims are cut down to what the roles could cover at all, and
// every operation on a repo and app must be allowed by one role (the scope, the repo and the app
// together: a publisher on one repo and a viewer on another cannot publish into the second).
import { ForbiddenError } from '../errors.ts';
import { idMatchesPrefix, type Claims, type Scope } from '../tokens/claims.ts';

export const roles = ['VIEWER', 'UPLOADER', 'PUBLISHER', 'REPO_ADMIN'] as const;
export type RoleName = (typeof roles)[number];

const roleScopes: Record<RoleName, readonly Scope[]> = {
  VIEWER: ['download'],
  UPLOADER: ['download', 'build', 'upload', 'jobs'],
  PUBLISHER: ['download', 'build', 'upload', 'jobs', 'publish', 'republish', 'reviewcheck'],
  // `admin` held by a role is the repo's administration (settings, webhooks, retention), never fmd's.
  REPO_ADMIN: ['download', 'build', 'upload', 'jobs', 'publish', 'republish', 'reviewcheck', 'generate', 'tokenmanagement', 'admin'],
};

export const scopesOfRole = (role: RoleName): readonly Scope[] => roleScopes[role];

/** One role as rights: its scopes on `repo` ("" every repo) for ids under `prefix` ("" every id). */
export type Grant = { repo: string; prefix: string; scopes: readonly Scope[] };

export const grantOf = (g: { repo: string; prefix: string; role: RoleName }): Grant => ({ repo: g.repo, prefix: g.prefix, scopes: roleScopes[g.role] });

/** What a grant's target covers: a repo ("" every one) and an app id (null: the operation names none). */
export type Target = { repo?: string | null; appId?: string | null };

function grantCovers(g: Grant, scopes: readonly Scope[], t: Target): boolean {
  if (!scopes.some((s) => g.scopes.includes(s))) return false;
  // No repo named: only a grant on every repo covers it.
  if (g.repo !== '' && g.repo !== t.repo) return false;
  return t.appId == null || idMatchesPrefix(t.appId, g.prefix);
}

/**
 * Whether the roles of a token's owner allow one of `scopes` on the target. `grants` null: the
 * token is not bound by roles (an fmd admin's, or one signed elsewhere with the shared secret).
 */
export function grantsAllow(grants: readonly Grant[] | null, scopes: Scope | readonly Scope[], t: Target): boolean {
  if (grants === null) return true;
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  return grants.some((g) => grantCovers(g, list, t));
}

export function requireGrant(viewer: { grants?: readonly Grant[] | null }, scopes: Scope | readonly Scope[], t: Target): void {
  if (grantsAllow(viewer.grants ?? null, scopes, t)) return;
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  const where = `${t.repo ? `repo ${t.repo}` : 'every repo'}${t.appId ? ` and ${t.appId}` : ''}`;
  throw new ForbiddenError(`Not enough permissions: your roles do not allow ${list.map((s) => `"${s}"`).join(' or ')} on ${where}`, list[0]);
}

/**
 * A token's claims cut down to what its owner's roles could cover: scopes some role holds, repos
 * some role covers, prefixes and apps under some role's prefix. The cross products a single set of
 * claims cannot express (a scope on one repo only) are left to `grantsAllow` per operation.
 */
export function narrowClaims(claims: Claims, grants: readonly Grant[]): Claims {
  const scope = claims.scope.filter((s) => grants.some((g) => g.scopes.includes(s as Scope)));
  const grantRepos = [...new Set(grants.map((g) => g.repo))];
  const repos = claims.repos.includes('') ? (grantRepos.includes('') ? [''] : grantRepos) : claims.repos.filter((r) => grantRepos.includes('') || grantRepos.includes(r));
  const grantPrefixes = [...new Set(grants.map((g) => g.prefix))];
  const prefixes = [
    ...new Set([
      ...claims.prefixes.filter((p) => grantPrefixes.some((q) => idMatchesPrefix(p, q))),
      ...grantPrefixes.filter((q) => claims.prefixes.some((p) => idMatchesPrefix(q, p))),
    ]),
  ];
  const apps = claims.apps.filter((a) => grantPrefixes.some((q) => idMatchesPrefix(a, q)));
  return { ...claims, scope, repos, prefixes: prefixes.includes('') ? [''] : prefixes, apps };
}

/**
 * Why claims asked for a new token exceed its owner's roles, or null: every scope on every repo
 * and for every prefix and app must be allowed by one role.
 */
export function grantsViolation(grants: readonly Grant[] | null, req: { scope: readonly string[]; repos: readonly string[]; prefixes: readonly string[]; apps: readonly string[] }): string | null {
  if (grants === null) return null;
  const ids = [...req.prefixes, ...req.apps];
  for (const s of req.scope) {
    for (const repo of req.repos.length ? req.repos : ['']) {
      for (const id of ids.length ? ids : ['']) {
        const covered = grants.some((g) => g.scopes.includes(s as Scope) && (g.repo === '' || g.repo === repo) && idMatchesPrefix(id, g.prefix));
        if (!covered) return `your roles do not allow "${s}" on ${repo ? `repo ${repo}` : 'every repo'}${id ? ` for ${id}` : ''}`;
      }
    }
  }
  return null;
}
