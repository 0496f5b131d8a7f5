// flat-manager's token claims and its matching rules, plus fmd's `admin` scope.
import { z } from 'zod';

export const flatManagerScopes = [
  'jobs',
  'build',
  'upload',
  'publish',
  'generate',
  'download',
  'republish',
  'reviewcheck',
  'tokenmanagement',
] as const;
/** `admin` is fmd's addition: administer repos, keys, users and tokens. */
export const allScopes = [...flatManagerScopes, 'admin'] as const;
export type Scope = (typeof allScopes)[number];

export const claimsSchema = z.object({
  sub: z.string().default(''),
  scope: z.array(z.string()).default([]),
  prefixes: z.array(z.string()).default([]),
  apps: z.array(z.string()).default([]),
  repos: z.array(z.string()).default([]),
  exp: z.number().int(),
  name: z.string().nullish(),
  jti: z.string().min(1).max(191).nullish(),
  token_type: z.number().int().nullish(),
});
export type Claims = z.infer<typeof claimsSchema>;

/** A required sub is satisfied when the token's sub is a path prefix of it. */
export function subHasPrefix(requiredSub: string, claimedSub: string): boolean {
  if (claimedSub === '') return true;
  if (!requiredSub.startsWith(claimedSub)) return false;
  return requiredSub.length === claimedSub.length || requiredSub[claimedSub.length] === '/' || claimedSub.endsWith('/');
}

/** `org.foo` matches `org.foo` and `org.foo.*`; the empty prefix matches everything. */
export function idMatchesPrefix(id: string, prefix: string): boolean {
  return prefix === '' || id === prefix || id.startsWith(`${prefix}.`);
}

export function idMatchesOnePrefix(id: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => idMatchesPrefix(id, p));
}

export function repoMatchesClaimed(repo: string, claimed: readonly string[]): boolean {
  return claimed.some((r) => r === '' || r === repo);
}

export function hasScope(claims: Pick<Claims, 'scope'>, scope: Scope): boolean {
  return claims.scope.includes(scope);
}

/** An app id is allowed by prefixes or by an exact entry in apps. */
export function appAllowed(claims: Pick<Claims, 'prefixes' | 'apps'>, appId: string): boolean {
  return idMatchesOnePrefix(appId, claims.prefixes) || claims.apps.includes(appId);
}

export type SubsetRequest = {
  sub: string;
  scope: string[];
  exp: number;
  prefixes?: string[] | undefined;
  apps?: string[] | undefined;
  repos?: string[] | undefined;
};

/** Why a requested token is not a subset of its parent, or null when it is. */
export function subsetViolation(parent: Claims, req: SubsetRequest): string | null {
  if (req.exp > parent.exp) return 'it would outlive the token that creates it';
  if (!subHasPrefix(req.sub, parent.sub)) return `sub "${req.sub}" is outside the parent's sub "${parent.sub}"`;
  const extraScope = req.scope.filter((s) => !parent.scope.includes(s));
  if (extraScope.length) return `scope ${extraScope.join(', ')} is not held by the parent token`;
  const badPrefix = (req.prefixes ?? []).filter((p) => !idMatchesOnePrefix(p, parent.prefixes));
  if (badPrefix.length) return `prefixes ${badPrefix.join(', ')} are outside the parent's prefixes`;
  const badApps = (req.apps ?? []).filter((a) => !parent.apps.includes(a) && !idMatchesOnePrefix(a, parent.prefixes));
  if (badApps.length) return `apps ${badApps.join(', ')} are outside the parent's rights`;
  const badRepos = (req.repos ?? []).filter((r) => !repoMatchesClaimed(r, parent.repos));
  if (badRepos.length) return `repos ${badRepos.map((r) => r || '(all)').join(', ')} are outside the parent's repos`;
  return null;
}
