// Tokens: verification with revocation, minting, subsets (flat-manager's token_subset) and
// the usage bookkeeping, batched so that a request never waits for a database write.
//
// Revocation state is cached in memory so that checking it on every request and every
// WebSocket operation costs a map lookup. A revocation made through fmd reaches every process
// at once: the revoking process drops its cache entries itself and publishes `tokens.changed`,
// which every process (through Redis when configured) answers by dropping the same entries and
// re-checking its open WebSocket sessions. A revocation written to the database by anything
// else (an older fmd, a hand-written UPDATE) is seen within `revocationCacheMs` (default 60 s).
import { isFmdAdmin } from '../users/access.ts';
import { randomUUID } from 'node:crypto';
import type { PrismaClient, ApiToken, Prisma } from '../../generated/prisma/client.ts';
import { AuthenticationError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors.ts';
import { topics, type EventBus } from '../events.ts';
import { allScopes, claimsSchema, hasScope, subsetViolation, type Claims } from './claims.ts';
import { signClaims, verifyToken } from './jwt.ts';
import { grantsViolation, narrowClaims, type Grant } from '../users/roles.ts';

/** Who is calling: the verified claims and, when known, the token's database row. */
export type Viewer = {
  /** the token's claims, cut down to its owner's roles when it has an owner bound by roles */
  claims: Claims;
  /** owner user id of the token row, when the token was minted by fmd */
  ownerId: number | null;
  /**
   * The roles of the token's owner, each operation on a repo and app must be allowed by one
   * (`requireGrant`); null or absent: not bound by roles (an fmd admin's token, or one signed
   * elsewhere with the shared secret).
   */
  grants?: readonly Grant[] | null;
  /** the password sign-in this access token belongs to */
  sessionId?: number | null;
};

/** What a token's owner may do now: read for every request (cached), so lowering a role reaches its tokens. */
export type OwnerRights = { disabled: boolean; grants: readonly Grant[] | null };

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

type TokenRow = Pick<ApiToken, 'jti' | 'ownerId' | 'revokedAt' | 'parentJti' | 'sessionId'>;

/** What a revocation did: known tokens revoked now (not those revoked before), and jtis fmd had never seen, recorded as revoked. */
export type Revocation = { revokedCount: number; preRevokedTokenIds: string[] };

/** The name flat-manager's REST token_subset gives a derived token: "<parent name>/<name>" (just the name under a nameless parent). */
export const subsetNameOf = (parentName: string | null | undefined, name: string): string => (parentName ? `${parentName}/${name}` : name);

/** What `tokens.changed` carries; REVOKED events invalidate the revocation cache of every process. */
export type TokenChange = { kind: 'CREATED' | 'REVOKED'; tokenIds: string[] };

/** Tokens derived from a token are looked up this many generations deep (as far as revocation follows). */
const maxLineage = 16;
const maxCachedRows = 50_000;

export type TokenServiceOptions = {
  /**
   * How long a cached token row (its revocation state) is trusted. Revocations made through fmd
   * invalidate it at once in every process (event bus); this bounds how stale the cache can be
   * for revocations written to the database by anything else.
   */
  revocationCacheMs?: number;
  /** where revocations are announced to the other processes, and heard from them */
  events?: EventBus;
  /** how often last-used times and first-seen tokens are written */
  flushMs?: number;
  now?: () => Date;
  /** the key before a rotation of the secret: its tokens verify until `until` */
  previous?: { key: Uint8Array; until: Date };
};

export class TokenService {
  private readonly prisma: PrismaClient;
  private readonly key: Uint8Array;
  private readonly previous: { key: Uint8Array; until: Date } | undefined;
  private readonly revocationCacheMs: number;
  private readonly now: () => Date;
  /** jti -> last-use time waiting to be written, with the claims to record a first-seen token by (null: never create a row) */
  private readonly pendingUse = new Map<string, { claims: Claims | null; at: Date }>();
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private readonly events: EventBus | undefined;
  private readonly stopListening = new AbortController();
  private readonly revocationListeners = new Set<() => void>();

  constructor(prisma: PrismaClient, key: Uint8Array, opts: TokenServiceOptions = {}) {
    this.prisma = prisma;
    this.key = key;
    this.previous = opts.previous;
    this.revocationCacheMs = opts.revocationCacheMs ?? 60_000;
    this.now = opts.now ?? (() => new Date());
    this.events = opts.events;
    this.flushTimer = setInterval(() => void this.flushUsage().catch(() => undefined), opts.flushMs ?? 5000);
    this.flushTimer.unref();
    if (this.events) void this.followRevocations(this.events);
  }

  /** Revocations announced by any process (this one included) invalidate this process's cache. */
  private async followRevocations(events: EventBus): Promise<void> {
    try {
      for await (const change of events.subscribe<TokenChange>(topics.tokensChanged, this.stopListening.signal)) {
        if (change?.kind === 'REVOKED' && Array.isArray(change.tokenIds)) this.forget(change.tokenIds);
      }
    } catch (err) {
      if (!this.stopListening.signal.aborted) throw err;
    }
  }

  /** Drops cached rows and tells the open sessions to check their token again. */
  private forget(jtis: readonly string[]): void {
    this.revocations++;
    for (const j of jtis) this.rows.delete(j);
    for (const listener of this.revocationListeners) listener();
  }

  /**
   * Calls `listener` after any token was revoked (here or in another process), once the cache
   * no longer holds the revoked rows; returns the unsubscribe function. Open WebSocket sessions
   * use it to re-check their token with `assertActive`.
   */
  onRevocation(listener: () => void): () => void {
    this.revocationListeners.add(listener);
    return () => this.revocationListeners.delete(listener);
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

  /** The token's claims, signed with the secret or, during a rotation's window, with the previous one. */
  private async verify(token: string): Promise<Claims> {
    const now = this.now();
    try {
      return await verifyToken(token, this.key, now);
    } catch (err) {
      const p = this.previous;
      if (!(err instanceof AuthenticationError) || err.reason !== 'bad-signature' || !p || now >= p.until) throw err;
      return verifyToken(token, p.key, now);
    }
  }

  private ownerRights: ((ownerId: number) => Promise<OwnerRights>) | undefined;

  /** Where the rights of a token's owner come from (the user service, set once at start-up). */
  bindOwnerRights(rightsOf: (ownerId: number) => Promise<OwnerRights>): void {
    this.ownerRights = rightsOf;
  }

  /** The viewer of verified claims: bound by the owner's roles when the token has an owner. */
  private async withOwner(claims: Claims, ownerId: number | null, sessionId: number | null): Promise<Viewer> {
    if (ownerId === null || !this.ownerRights) return { claims, ownerId, grants: null, sessionId };
    const rights = await this.ownerRights(ownerId);
    if (rights.disabled) throw new AuthenticationError('revoked', 'the user owning this token is disabled');
    if (rights.grants === null) return { claims, ownerId, grants: null, sessionId };
    return { claims: narrowClaims(claims, rights.grants), ownerId, grants: rights.grants, sessionId };
  }

  async authenticate(token: string): Promise<Viewer> {
    const claims = await this.verify(token);
    let ownerId: number | null = null;
    let sessionId: number | null = null;
    if (claims.jti) {
      const { row, chain } = await this.unrevoked(claims.jti);
      ownerId = row?.ownerId ?? null;
      sessionId = row?.sessionId ?? null;
      const at = this.now();
      this.pendingUse.set(claims.jti, { claims, at });
      // flat-manager's subset tokens carry their parent's jti, so using one shows as a use of the
      // parent (last_used in tokens/get_list); fmd's have their own jti and bump their ancestors.
      for (const parent of chain) this.pendingUse.set(parent.jti, { claims: this.pendingUse.get(parent.jti)?.claims ?? null, at });
    }
    return this.withOwner(claims, ownerId, sessionId);
  }


  /**
   * Throws the AuthenticationError `authenticate` would for this viewer's token now (expired,
   * revoked, or derived from a revoked token), without counting a use.
   */
  async assertActive(viewer: Viewer): Promise<void> {
    if (viewer.claims.exp * 1000 <= this.now().getTime()) throw new AuthenticationError('expired', 'token expired');
    if (viewer.claims.jti) await this.unrevoked(viewer.claims.jti);
  }

  private async unrevoked(jti: string): Promise<{ row: TokenRow | null; chain: TokenRow[] }> {
    const row = await this.lookup(jti);
    const chain = await this.lineage(row);
    if (row?.revokedAt || chain.some((r) => r.revokedAt)) throw new AuthenticationError('revoked', 'token has been revoked');
    return { row, chain };
  }

  private readonly rows = new Map<string, { row: TokenRow | null; at: number }>();
  /** counts revocations heard of, so that a row read while one happened is not cached */
  private revocations = 0;

  private async lookup(jti: string): Promise<TokenRow | null> {
    const cached = this.rows.get(jti);
    if (cached && Date.now() - cached.at < this.revocationCacheMs) return cached.row;
    const seen = this.revocations;
    const row = await this.prisma.apiToken.findUnique({ where: { jti }, select: { jti: true, ownerId: true, revokedAt: true, parentJti: true, sessionId: true } });
    // Read before a revocation committed, it would keep a revoked token alive for the cache's lifetime.
    if (seen !== this.revocations) return row;
    if (this.rows.size >= maxCachedRows) this.rows.delete(this.rows.keys().next().value!);
    this.rows.set(jti, { row, at: Date.now() });
    return row;
  }

  /**
   * The tokens a token was derived from (token_subset), nearest first, as far as fmd knows them.
   * A token is revoked when its row is or one of these is.
   */
  private async lineage(row: TokenRow | null): Promise<TokenRow[]> {
    const chain: TokenRow[] = [];
    for (let jti = row?.parentJti; jti && chain.length < maxLineage; ) {
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
          // The claims of a token signed elsewhere were never checked against the columns: a name
          // too long, or half a surrogate pair in a JSON array, would fail the whole batch.
          data: fresh.map(({ jti, claims, at }) => ({
            jti,
            name: column(claims.name ?? ''),
            sub: column(claims.sub),
            scopes: claims.scope.map(column),
            prefixes: claims.prefixes.map(column),
            apps: claims.apps.map(column),
            repos: claims.repos.map(column),
            tokenType: claims.token_type ?? null,
            expiresAt: new Date(claims.exp * 1000),
            lastUsedAt: at,
            external: true,
          })),
        });
        // Their rows exist now: forget the "never seen" this process cached (the lineage of their subsets needs them).
        for (const { jti } of fresh) this.rows.delete(jti);
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
  async mint(
    t: NewToken,
    opts: { ownerId?: number | null; parentJti?: string | null; sessionId?: number | null } = {},
  ): Promise<{ token: string; row: ApiToken }> {
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
        sessionId: opts.sessionId ?? null,
      },
    });
    return { token: await signClaims(claims, this.key), row };
  }

  /**
   * A new token with at most the caller's rights (flat-manager's token_subset rule). Omitted
   * prefixes/apps/repos are inherited. It keeps the name it is given: the token it was derived
   * from is its `parentJti`, not part of its name (flat-manager's own REST token_subset names it
   * "<parent name>/<name>": that route composes the name itself, see `subsetNameOf`).
   */
  async createSubset(viewer: Viewer, t: Omit<NewToken, 'sub'> & { sub?: string }): Promise<{ token: string; row: ApiToken }> {
    validateNewToken({ ...t, duration: Math.max(t.duration, 1) });
    // A signed-in user's tokens belong to the user, not to the session's short-lived access
    // token: they may outlive it, and signing out does not revoke them (the roles still bound them).
    const fromSession = viewer.sessionId != null && viewer.ownerId !== null;
    const parent = fromSession ? { ...viewer.claims, exp: Number.MAX_SAFE_INTEGER } : viewer.claims;
    const exp = Math.floor(this.now().getTime() / 1000) + Math.max(t.duration, 0);
    const req = { sub: t.sub ?? parent.sub, scope: t.scope, exp, prefixes: t.prefixes, apps: t.apps, repos: t.repos };
    const why = subsetViolation(parent, req);
    if (why) throw new ForbiddenError(`the new token must be a subset of yours: ${why}`);
    // A token a user mints never exceeds the user's roles (and is cut down to them on every use).
    if (viewer.ownerId !== null && this.ownerRights) {
      const rights = await this.ownerRights(viewer.ownerId);
      const claimed = { scope: t.scope, repos: t.repos ?? parent.repos, prefixes: t.prefixes ?? parent.prefixes, apps: t.apps ?? parent.apps };
      const beyond = grantsViolation(rights.grants, claimed);
      if (beyond) throw new ForbiddenError(`the new token must stay within your roles: ${beyond}`);
    }
    return this.mint(
      {
        ...t,
        sub: req.sub,
        prefixes: t.prefixes ?? parent.prefixes,
        apps: t.apps ?? parent.apps,
        repos: t.repos ?? parent.repos,
        tokenType: t.tokenType ?? parent.token_type ?? null,
      },
      { ownerId: viewer.ownerId, parentJti: fromSession ? null : (parent.jti ?? null) },
    );
  }

  /**
   * Revokes tokens by jti; tokens derived from them stop working too. Admins may revoke any jti,
   * including one fmd has never seen (a token minted elsewhere gets a revoked row, so it stays
   * dead when it shows up); others only tokens they may see (`visibleTokensWhere`), and any
   * other jti, unknown or not theirs, is not found and nothing is revoked. Answers how many known
   * tokens this revoked and, apart, the jtis fmd had never seen: revoked in advance on purpose,
   * or a typo, which only the caller can tell.
   */
  async revoke(viewer: Viewer, jtis: string[]): Promise<Revocation> {
    requireTokenManagement(viewer);
    const wanted = [...new Set(jtis)];
    if (wanted.length === 0) return { revokedCount: 0, preRevokedTokenIds: [] };
    const admin = isFmdAdmin(viewer);
    const visible = await this.prisma.apiToken.findMany({ where: { AND: [{ jti: { in: wanted } }, await this.visibleTokensWhere(viewer)] }, select: { jti: true } });
    const visibleSet = new Set(visible.map((k) => k.jti));
    const missing = wanted.filter((j) => !visibleSet.has(j));
    if (missing.length && !admin) throw new NotFoundError('token', missing[0]!);
    const at = this.now();
    const res = await this.prisma.apiToken.updateMany({ where: { jti: { in: wanted }, revokedAt: null }, data: { revokedAt: at } });
    if (missing.length) {
      await this.prisma.apiToken.createMany({
        skipDuplicates: true,
        data: missing.map((jti) => ({ jti, name: '', scopes: [], prefixes: [], apps: [], repos: [], external: true, revokedAt: at })),
      });
    }
    // This process at once; the others (and this one again) through the bus.
    this.forget(wanted);
    await this.events?.publish(topics.tokensChanged, { kind: 'REVOKED', tokenIds: wanted } satisfies TokenChange);
    return { revokedCount: res.count, preRevokedTokenIds: missing };
  }

  /**
   * Revokes tokens for fmd itself (a session ending, a user deleted): no rights are checked, and
   * every process stops accepting them at once.
   */
  async revokeInternally(jtis: readonly string[]): Promise<number> {
    if (jtis.length === 0) return 0;
    const res = await this.prisma.apiToken.updateMany({ where: { jti: { in: [...jtis] }, revokedAt: null }, data: { revokedAt: this.now() } });
    this.forget(jtis);
    await this.events?.publish(topics.tokensChanged, { kind: 'REVOKED', tokenIds: [...jtis] } satisfies TokenChange);
    return res.count;
  }

  /**
   * `tokens.changed` as a viewer may see it: the ids of tokens it may list (`visibleTokensWhere`),
   * and no event when none is left. `return()` unsubscribes at once.
   */
  changesVisibleTo(viewer: Viewer): AsyncIterableIterator<TokenChange> {
    requireTokenManagement(viewer);
    if (!this.events) throw new Error('the token service has no event bus');
    const source = this.events.subscribe<TokenChange>(topics.tokensChanged);
    const admin = isFmdAdmin(viewer);
    const it: AsyncIterableIterator<TokenChange> = {
      next: async () => {
        for (;;) {
          const r = await source.next();
          if (r.done || admin) return r;
          const where = { AND: [{ jti: { in: r.value.tokenIds } }, await this.visibleTokensWhere(viewer)] };
          const visible = new Set((await this.prisma.apiToken.findMany({ where, select: { jti: true } })).map((t) => t.jti));
          const tokenIds = r.value.tokenIds.filter((j) => visible.has(j));
          if (tokenIds.length) return { done: false, value: { ...r.value, tokenIds } };
        }
      },
      return: async () => (await source.return?.()) ?? { done: true, value: undefined },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** flat-manager's tokens/get_list: the rows of the given jtis the viewer may see; others are left out. */
  async listByJti(viewer: Viewer, jtis: string[]): Promise<ApiToken[]> {
    requireTokenManagement(viewer);
    return this.prisma.apiToken.findMany({ where: { AND: [{ jti: { in: jtis } }, await this.visibleTokensWhere(viewer)] }, orderBy: { id: 'asc' } });
  }

  /**
   * Which token rows a viewer may see and revoke: admins all; others their own token and the
   * tokens derived from it (token_subset, any generation), whoever owns them. Sharing an owner
   * is not enough: a tokenmanagement token an admin minted must not reach the admin's tokens.
   */
  /**
   * Where a token's parent is visible: among the tokens the viewer may list, and nowhere for a
   * viewer that may not list tokens at all (createToken answers such callers too).
   */
  async parentWhere(viewer: Viewer, parentJti: string): Promise<Prisma.ApiTokenWhereInput | null> {
    if (!hasScope(viewer.claims, 'tokenmanagement') && !hasScope(viewer.claims, 'admin') && viewer.sessionId == null) return null;
    return { AND: [{ jti: parentJti }, await this.visibleTokensWhere(viewer)] };
  }

  async visibleTokensWhere(viewer: Viewer): Promise<Prisma.ApiTokenWhereInput> {
    requireTokenManagement(viewer);
    if (isFmdAdmin(viewer)) return {};
    // A signed-in user lists every token the user owns.
    const owned: Prisma.ApiTokenWhereInput[] = viewer.sessionId != null && viewer.ownerId !== null ? [{ ownerId: viewer.ownerId }] : [];
    if (!viewer.claims.jti) return owned.length ? owned[0]! : { jti: { in: [] } };
    const jtis = [viewer.claims.jti];
    for (let frontier = jtis, depth = 0; frontier.length && depth < maxLineage; depth++) {
      const children = await this.prisma.apiToken.findMany({ where: { parentJti: { in: frontier } }, select: { jti: true } });
      frontier = children.map((c) => c.jti).filter((j) => !jtis.includes(j));
      jtis.push(...frontier);
    }
    return owned.length ? { OR: [{ jti: { in: jtis } }, ...owned] } : { jti: { in: jtis } };
  }

  async close(): Promise<void> {
    this.stopListening.abort();
    clearInterval(this.flushTimer);
    await this.flushUsage().catch(() => undefined);
  }
}

function requireTokenManagement(viewer: Viewer): void {
  // A signed-in user manages the user's own tokens whatever the roles (visibleTokensWhere).
  if (viewer.sessionId != null && viewer.ownerId !== null) return;
  if (!hasScope(viewer.claims, 'tokenmanagement') && !hasScope(viewer.claims, 'admin')) {
    throw new ForbiddenError('this needs a token with the "tokenmanagement" or "admin" scope', 'tokenmanagement');
  }
}

/** A claim's text as a row of an outside token keeps it: well-formed, at most 255 characters. */
function column(v: string): string {
  return v.toWellFormed().slice(0, 255).toWellFormed();
}

function validateNewToken(t: NewToken): void {
  if (!t.name.trim()) throw new InvalidInputError('a token needs a name', 'name');
  if (t.name.length > 255) throw new InvalidInputError('token names are at most 255 characters', 'name');
  if (t.sub !== undefined && t.sub.length > 255) throw new InvalidInputError('a token sub is at most 255 characters', 'sub');
  const unknown = t.scope.filter((s) => !(allScopes as readonly string[]).includes(s));
  if (unknown.length) throw new InvalidInputError(`unknown scope ${unknown.join(', ')}; known: ${allScopes.join(' ')}`, 'scope');
  if (!Number.isSafeInteger(t.duration) || t.duration <= 0) throw new InvalidInputError('duration must be a positive whole number of seconds', 'duration');
  claimsSchema.shape.prefixes.parse(t.prefixes ?? []);
}
