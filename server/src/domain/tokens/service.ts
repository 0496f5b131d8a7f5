// Tokens: verification with revocation, minting, subsets (flat-manager's token_subset) and
// the usage bookkeeping, batched so that a request never waits for a database write.
import { randomUUID } from 'node:crypto';
import type { PrismaClient, ApiToken } from '../../generated/prisma/client.ts';
import { AuthenticationError, ForbiddenError, InvalidInputError } from '../errors.ts';
import { allScopes, claimsSchema, hasScope, subsetViolation, type Claims } from './claims.ts';
import { signClaims, verifyToken } from './jwt.ts';

/** Who is calling: the verified claims and, when known, the token's database row. */
export type Viewer = {
  claims: Claims;
  /** owner user id of the token row, when the token was minted by fmd */
  ownerId: number | null;
};

export type NewToken = {
  name: string;
  sub?: string;
  scope: string[];
  prefixes?: string[];
  apps?: string[];
  repos?: string[];
  /** lifetime in seconds */
  duration: number;
  tokenType?: number | null;
};

type TokenRow = Pick<ApiToken, 'jti' | 'ownerId' | 'revokedAt' | 'parentJti'>;

export type TokenServiceOptions = {
  /** how long a revocation lookup is trusted, across processes */
  revocationCacheMs?: number;
  /** how often last-used times and first-seen tokens are written */
  flushMs?: number;
  now?: () => Date;
};

export class TokenService {
  private readonly prisma: PrismaClient;
  private readonly key: Uint8Array;
  private readonly revocationCacheMs: number;
  private readonly now: () => Date;
  /** jti -> last-use time waiting to be written, with the claims to record a first-seen token by (null: never create a row) */
  private readonly pendingUse = new Map<string, { claims: Claims | null; at: Date }>();
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(prisma: PrismaClient, key: Uint8Array, opts: TokenServiceOptions = {}) {
    this.prisma = prisma;
    this.key = key;
    this.revocationCacheMs = opts.revocationCacheMs ?? 2000;
    this.now = opts.now ?? (() => new Date());
    this.flushTimer = setInterval(() => void this.flushUsage().catch(() => undefined), opts.flushMs ?? 5000);
    this.flushTimer.unref();
  }

  /** Parses an Authorization header value (`Bearer <jwt>`, optionally after a configured prefix). */
  static tokenFromHeader(header: string | undefined, tokenPrefix = ''): string {
    if (!header) throw new AuthenticationError('missing', 'no bearer token: send Authorization: Bearer <token>');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
    if (!m) throw new AuthenticationError('malformed', 'Authorization header must be "Bearer <token>"');
    let token = m[1]!;
    if (tokenPrefix && token.startsWith(tokenPrefix)) token = token.slice(tokenPrefix.length);
    return token;
  }

  async authenticate(token: string): Promise<Viewer> {
    const claims = await verifyToken(token, this.key, this.now());
    let ownerId: number | null = null;
    if (claims.jti) {
      const row = await this.lookup(claims.jti);
      const chain = await this.lineage(row);
      if (row?.revokedAt || chain.some((r) => r.revokedAt)) throw new AuthenticationError('revoked', 'token has been revoked');
      ownerId = row?.ownerId ?? null;
      const at = this.now();
      this.pendingUse.set(claims.jti, { claims, at });
      // flat-manager's subset tokens carry their parent's jti, so using one shows as a use of the
      // parent (last_used in tokens/get_list); fmd's have their own jti and bump their ancestors.
      for (const parent of chain) this.pendingUse.set(parent.jti, { claims: this.pendingUse.get(parent.jti)?.claims ?? null, at });
    }
    return { claims, ownerId };
  }

  private readonly rows = new Map<string, { row: TokenRow | null; at: number }>();

  private async lookup(jti: string): Promise<TokenRow | null> {
    const cached = this.rows.get(jti);
    if (cached && Date.now() - cached.at < this.revocationCacheMs) return cached.row;
    const row = await this.prisma.apiToken.findUnique({ where: { jti }, select: { jti: true, ownerId: true, revokedAt: true, parentJti: true } });
    this.rows.set(jti, { row, at: Date.now() });
    return row;
  }

  /**
   * The tokens a token was derived from (token_subset), nearest first, as far as fmd knows them.
   * A token is revoked when its row is or one of these is.
   */
  private async lineage(row: TokenRow | null): Promise<TokenRow[]> {
    const chain: TokenRow[] = [];
    for (let jti = row?.parentJti; jti && chain.length < 16; ) {
      const parent = await this.lookup(jti);
      if (!parent) break;
      chain.push(parent);
      jti = parent.parentJti;
    }
    return chain;
  }

  /** Writes last-used times, creating rows for tokens fmd sees for the first time. */
  async flushUsage(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.pendingUse.size === 0) return;
    const batch = [...this.pendingUse.entries()];
    this.pendingUse.clear();
    this.flushing = (async () => {
      const known = await this.prisma.apiToken.findMany({ where: { jti: { in: batch.map(([j]) => j) } }, select: { jti: true } });
      const knownSet = new Set(known.map((k) => k.jti));
      const fresh = batch.flatMap(([jti, { claims, at }]) => (knownSet.has(jti) || !claims ? [] : [{ jti, claims, at }]));
      if (fresh.length) {
        await this.prisma.apiToken.createMany({
          skipDuplicates: true,
          data: fresh.map(({ jti, claims, at }) => ({
            jti,
            name: claims.name ?? '',
            sub: claims.sub,
            scopes: claims.scope,
            prefixes: claims.prefixes,
            apps: claims.apps,
            repos: claims.repos,
            tokenType: claims.token_type ?? null,
            expiresAt: new Date(claims.exp * 1000),
            lastUsedAt: at,
            external: true,
          })),
        });
      }
      // Group by second so a burst of requests becomes a handful of statements.
      const byTime = new Map<number, string[]>();
      for (const [jti, { at }] of batch) {
        if (!knownSet.has(jti)) continue;
        const t = Math.floor(at.getTime() / 1000) * 1000;
        byTime.set(t, [...(byTime.get(t) ?? []), jti]);
      }
      for (const [t, jtis] of byTime) {
        await this.prisma.apiToken.updateMany({ where: { jti: { in: jtis } }, data: { lastUsedAt: new Date(t) } });
      }
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Mints a token and records it. Callers check rights first (see createSubset). */
  async mint(t: NewToken, opts: { ownerId?: number | null; parentJti?: string | null } = {}): Promise<{ token: string; row: ApiToken }> {
    validateNewToken(t);
    const jti = randomUUID();
    const claims: Claims = {
      sub: t.sub ?? '',
      scope: t.scope,
      prefixes: t.prefixes ?? [],
      apps: t.apps ?? [],
      repos: t.repos ?? [],
      exp: Math.floor(this.now().getTime() / 1000) + t.duration,
      name: t.name,
      jti,
      token_type: t.tokenType ?? null,
    };
    const row = await this.prisma.apiToken.create({
      data: {
        jti,
        name: t.name,
        sub: claims.sub,
        scopes: claims.scope,
        prefixes: claims.prefixes,
        apps: claims.apps,
        repos: claims.repos,
        tokenType: claims.token_type,
        expiresAt: new Date(claims.exp * 1000),
        ownerId: opts.ownerId ?? null,
        parentJti: opts.parentJti ?? null,
      },
    });
    return { token: await signClaims(claims, this.key), row };
  }

  /**
   * flat-manager's token_subset: a new token with at most the caller's rights. Omitted
   * prefixes/apps/repos are inherited; the name is "<parent name>/<name>".
   */
  async createSubset(viewer: Viewer, t: Omit<NewToken, 'sub'> & { sub?: string }): Promise<{ token: string; row: ApiToken }> {
    validateNewToken({ ...t, duration: Math.max(t.duration, 1) });
    const parent = viewer.claims;
    const exp = Math.floor(this.now().getTime() / 1000) + Math.max(t.duration, 0);
    const req = { sub: t.sub ?? parent.sub, scope: t.scope, exp, prefixes: t.prefixes, apps: t.apps, repos: t.repos };
    const why = subsetViolation(parent, req);
    if (why) throw new ForbiddenError(`the new token must be a subset of yours: ${why}`);
    return this.mint(
      {
        ...t,
        sub: req.sub,
        name: parent.name ? `${parent.name}/${t.name}` : t.name,
        prefixes: t.prefixes ?? parent.prefixes,
        apps: t.apps ?? parent.apps,
        repos: t.repos ?? parent.repos,
        tokenType: t.tokenType ?? parent.token_type ?? null,
      },
      { ownerId: viewer.ownerId, parentJti: parent.jti ?? null },
    );
  }

  /** Revokes tokens by jti; tokens derived from them stop working too. Returns the count revoked. */
  async revoke(viewer: Viewer, jtis: string[]): Promise<number> {
    requireTokenManagement(viewer);
    const at = this.now();
    const res = await this.prisma.apiToken.updateMany({ where: { jti: { in: jtis }, revokedAt: null }, data: { revokedAt: at } });
    // Unknown jtis (tokens minted elsewhere and never seen) get a revoked row so they stay dead.
    const known = await this.prisma.apiToken.findMany({ where: { jti: { in: jtis } }, select: { jti: true } });
    const knownSet = new Set(known.map((k) => k.jti));
    const unknown = jtis.filter((j) => !knownSet.has(j));
    if (unknown.length) {
      await this.prisma.apiToken.createMany({
        skipDuplicates: true,
        data: unknown.map((jti) => ({ jti, name: '', scopes: [], prefixes: [], apps: [], repos: [], external: true, revokedAt: at })),
      });
    }
    for (const j of jtis) this.rows.delete(j);
    return res.count + unknown.length;
  }

  /** Who may see which token rows: admins all, token managers those of their owner. */
  visibleTokensWhere(viewer: Viewer) {
    requireTokenManagement(viewer);
    if (hasScope(viewer.claims, 'admin')) return {};
    return viewer.ownerId === null ? { parentJti: viewer.claims.jti ?? '-' } : { ownerId: viewer.ownerId };
  }

  async close(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushUsage().catch(() => undefined);
  }
}

function requireTokenManagement(viewer: Viewer): void {
  if (!hasScope(viewer.claims, 'tokenmanagement') && !hasScope(viewer.claims, 'admin')) {
    throw new ForbiddenError('this needs a token with the "tokenmanagement" or "admin" scope', 'tokenmanagement');
  }
}

function validateNewToken(t: NewToken): void {
  if (!t.name.trim()) throw new InvalidInputError('a token needs a name', 'name');
  if (t.name.length > 255) throw new InvalidInputError('token names are at most 255 characters', 'name');
  const unknown = t.scope.filter((s) => !(allScopes as readonly string[]).includes(s));
  if (unknown.length) throw new InvalidInputError(`unknown scope ${unknown.join(', ')}; known: ${allScopes.join(' ')}`, 'scope');
  if (!Number.isFinite(t.duration) || t.duration <= 0) throw new InvalidInputError('duration must be a positive number of seconds', 'duration');
  claimsSchema.shape.prefixes.parse(t.prefixes ?? []);
}
