// What the tokens page reads out of a token's claims. Pure, so it is tested without a browser.

/** The scopes a token may carry (the server's list; `admin` is fmd's own). */
export const allScopes = ['jobs', 'build', 'upload', 'publish', 'generate', 'download', 'republish', 'reviewcheck', 'tokenmanagement', 'admin'] as const;

export type TokenState = 'revoked' | 'expired' | 'active';

export function tokenState(t: { revokedAt: string | null; expiresAt: string | null }, now = Date.now()): TokenState {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && new Date(t.expiresAt).getTime() <= now) return 'expired';
  return 'active';
}

/**
 * A claim list as people read it: flat-manager's `[""]` (or any `""` entry) covers everything,
 * `[]` nothing.
 */
export function describeClaim(items: readonly string[], kind: 'repos' | 'prefixes' | 'apps'): string {
  if (items.includes('')) return kind === 'repos' ? 'all repos' : 'all apps';
  if (!items.length) return kind === 'repos' ? 'no repo' : kind === 'prefixes' ? 'no prefix' : 'none';
  return items.join(', ');
}

/** The scopes the create form offers: a new token can only carry scopes the creating token has. */
export function grantableScopes(viewerScopes: readonly string[]): string[] {
  return allScopes.filter((s) => viewerScopes.includes(s));
}

/** How many seconds a new token may live at most: until the creating token expires. */
export function maxDurationSeconds(viewerExpiresAt: string, now = Date.now()): number {
  return Math.max(0, Math.floor((new Date(viewerExpiresAt).getTime() - now) / 1000));
}

/** Orders tokens for the list: active first, then expired, then revoked; newest first within each. */
export function sortTokens<T extends { revokedAt: string | null; expiresAt: string | null; createdAt: string }>(tokens: readonly T[], now = Date.now()): T[] {
  const rank = { active: 0, expired: 1, revoked: 2 } as const;
  return [...tokens].sort((a, b) => rank[tokenState(a, now)] - rank[tokenState(b, now)] || b.createdAt.localeCompare(a.createdAt));
}

/**
 * A claim list typed in the create form: undefined when empty (the server then copies the
 * creating token's), `*` standing for flat-manager's `""` (everything).
 */
export function parseClaimList(items: readonly string[]): string[] | undefined {
  if (!items.length) return undefined;
  return items.map((s) => (s === '*' ? '' : s));
}

/** The expiry the create form suggests: 90 days, or less when the creating token ends sooner. */
export function defaultExpiry(maxSeconds: number): string {
  if (maxSeconds >= 90 * 86400) return '90d';
  if (maxSeconds >= 86400) return `${Math.floor(maxSeconds / 86400)}d`;
  if (maxSeconds >= 3600) return `${Math.floor(maxSeconds / 3600)}h`;
  return `${Math.max(1, Math.floor(maxSeconds / 60))}m`;
}
