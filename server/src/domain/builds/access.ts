// flat-manager's token rules for builds: a required `sub` (build, build/<id>) with a scope,
// the token's repos, and the app-id prefixes a build's app id and refs must match.
import { isFmdAdmin } from '../users/access.ts';
import { ForbiddenError } from '../errors.ts';
import type { Prisma } from '../../generated/prisma/client.ts';
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

/** Scopes that may read builds (flat-manager: build, upload and download tokens; fmd's admin). */
export const buildReaderScopes = ['build', 'upload', 'download', 'admin'] as const;

/** Matches no row: Prisma turns an empty `in` into a false condition. */
export const noRows = { id: { in: [] as number[] } };

/**
 * Which builds a viewer may read, as data, so that the database (visibleBuildsWhere) and memory
 * (buildVisible, for subscription fan-out) apply the same rule: `null` for all builds, else
 * each present condition must hold. `none` matches no build.
 */
export type BuildVisibility =
  | null
  | 'none'
  | {
      id?: number;
      repos?: readonly string[];
      apps?: { apps: readonly string[]; prefixes: readonly string[] };
      /** the token owner's roles: one must cover the build's repo ("" every repo) and app id ("" every id) */
      roles?: ReadonlyArray<{ repo: string; prefix: string }>;
    };

/**
 * Which builds a viewer may read, on every way in (list, `build`, `node`, subscriptions):
 * admins all; others need a reader scope, and see the builds their `sub` covers
 * (`build/<id>` is one build), in their repos, whose app id matches their prefixes or apps
 * (builds without an app id match any prefixes). Throws ForbiddenError when no build can match.
 */
export function buildVisibility(viewer: Viewer): BuildVisibility {
  const c = viewer.claims;
  if (isFmdAdmin(viewer)) return null;
  if (!buildReaderScopes.some((s) => hasScope(c, s))) {
    throw new ForbiddenError(`Not enough permissions: needs one of the scopes ${buildReaderScopes.join(', ')}`, 'build');
  }
  const sub = subBuild(c.sub);
  if (sub === null) return 'none';
  const v: Exclude<BuildVisibility, null | 'none'> = {};
  if (sub !== undefined) v.id = sub;
  if (!c.repos.includes('')) v.repos = c.repos;
  if (!c.prefixes.includes('')) v.apps = { apps: c.apps, prefixes: c.prefixes };
  // Every role reads; the roles' cross products (one role's repo with another's prefix) are out.
  const grants = viewer.grants ?? null;
  if (grants !== null) {
    if (grants.length === 0) return 'none';
    if (!grants.some((g) => g.repo === '' && g.prefix === '')) v.roles = grants.map((g) => ({ repo: g.repo, prefix: g.prefix }));
  }
  return Object.keys(v).length ? v : null;
}

/**
 * `text` for a Prisma startsWith/contains, matched literally: Prisma hands it to LIKE as is, where
 * `_` and `%` are wildcards (a prefix `org_a` matched `org.a.*`, which are legal in app ids).
 */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

/** buildVisibility as a Prisma filter. */
export function visibleBuildsWhere(viewer: Viewer): Prisma.BuildWhereInput {
  return buildVisibilityWhere(buildVisibility(viewer));
}

export function buildVisibilityWhere(v: BuildVisibility): Prisma.BuildWhereInput {
  if (v === null) return {};
  if (v === 'none') return noRows;
  const and: Prisma.BuildWhereInput[] = [];
  if (v.id !== undefined) and.push({ id: v.id });
  if (v.repos) and.push({ repo: { name: { in: [...v.repos] } } });
  if (v.apps) {
    const ids: Prisma.BuildWhereInput[] = [{ appId: null }, ...v.apps.apps.map((a) => ({ appId: a }))];
    for (const p of v.apps.prefixes) ids.push({ appId: p }, { appId: { startsWith: `${likeLiteral(p)}.` } });
    and.push({ OR: ids });
  }
  if (v.roles) {
    and.push({
      OR: v.roles.map((g) => ({
        AND: [g.repo === '' ? {} : { repo: { name: g.repo } }, g.prefix === '' ? {} : { OR: [{ appId: null }, { appId: g.prefix }, { appId: { startsWith: `${likeLiteral(g.prefix)}.` } }] }],
      })),
    });
  }
  return { AND: and };
}

/**
 * buildVisibility applied to a build in memory: a subscription decides each of its events with
 * it instead of a query per subscriber. Compares exactly, as flat-manager and requireBuildAccess
 * do; the database's case-insensitive collation may let visibleBuildsWhere match more (a prefix
 * differing only in case), never less.
 */
export function buildVisible(v: BuildVisibility, build: { id: number; repoName: string; appId: string | null }): boolean {
  if (v === null) return true;
  if (v === 'none') return false;
  if (v.id !== undefined && build.id !== v.id) return false;
  if (v.repos && !v.repos.includes(build.repoName)) return false;
  if (v.apps && build.appId !== null && !v.apps.apps.includes(build.appId) && !v.apps.prefixes.some((p) => build.appId === p || build.appId!.startsWith(`${p}.`))) return false;
  if (v.roles && !v.roles.some((g) => (g.repo === '' || g.repo === build.repoName) && (build.appId === null || g.prefix === '' || build.appId === g.prefix || build.appId.startsWith(`${g.prefix}.`)))) return false;
  return true;
}

/** The build a token's sub limits it to: undefined for any build, null for none. */
function subBuild(sub: string): number | null | undefined {
  // The subs that cover every `build/<id>` (subHasPrefix's rule).
  if (sub === '' || sub === 'build' || sub === 'build/') return undefined;
  const m = /^build\/([1-9]\d{0,9})$/.exec(sub);
  return m ? Number(m[1]) : null;
}
