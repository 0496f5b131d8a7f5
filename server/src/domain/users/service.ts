// User accounts: passwords (argon2id), roles per repo and app-id prefix, password sign-in with
// short-lived access tokens and rotating refresh tokens, lockout, invites. Every token a user
// owns acts with at most the user's roles at the time of each request (TokenService asks
// `rightsOf`), so lowering a role reaches the tokens minted before.
import { createHash, randomBytes } from 'node:crypto';
import type { Invite, PrismaClient, RoleGrant, User, UserSession } from '../../generated/prisma/client.ts';
import { ForbiddenError, InvalidInputError, NotFoundError, SignInError } from '../errors.ts';
import { topics, type EventBus } from '../events.ts';
import { allScopes, type Scope } from '../tokens/claims.ts';
import type { OwnerRights, TokenService, Viewer } from '../tokens/service.ts';
import { checkPasswordRules, hashPassword, verifyNothing, verifyPassword } from './passwords.ts';
import { grantOf, roles, type Grant, type RoleName } from './roles.ts';
import { isFmdAdmin } from './access.ts';

export const bootstrapAdminName = 'admin';
const year = 365 * 24 * 3600;
const nameRule = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const prefixRule = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const rightsCacheMs = 30_000;

export type UserConfig = {
  sessionAccessSecs: number;
  sessionRefreshSecs: number;
  signinMaxFailures: number;
  signinLockoutSecs: number;
  baseUrl?: string | undefined;
};

export type GrantInput = { repo?: string | null; prefix?: string | null; role: RoleName };
export type NewUser = { name: string; displayName?: string | null; email?: string | null; password?: string | null; isAdmin?: boolean | null; roles?: GrantInput[] | null };
export type UserChange = { displayName?: string | null; email?: string | null; isAdmin?: boolean | null; disabled?: boolean | null };
export type SignedIn = { accessToken: string; accessTokenExpiresAt: Date; refreshToken: string; refreshTokenExpiresAt: Date; session: UserSession; user: User };
export type InviteCreated = { invite: Invite; code: string; url: string };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export function requireFmdAdmin(viewer: Viewer): void {
  if (!isFmdAdmin(viewer)) throw new ForbiddenError('Not enough permissions: this needs an fmd admin (the "admin" scope on every repo, held by an admin user)', 'admin');
}

function requireOwner(viewer: Viewer): number {
  if (viewer.ownerId === null) throw new ForbiddenError('this token belongs to no user (it was minted elsewhere, or before users existed)');
  return viewer.ownerId;
}

function text(v: string | null | undefined, field: string, max = 255): string | null | undefined {
  if (v === undefined || v === null) return v;
  const t = v.trim();
  if (t.length > max) throw new InvalidInputError(`${field} is at most ${max} characters`, field);
  if (t.toWellFormed() !== t || /[\u0000-\u001f\u007f]/.test(t)) throw new InvalidInputError(`${field} must be printable text`, field);
  return t === '' ? null : t;
}

function email(v: string | null | undefined): string | null | undefined {
  const e = text(v, 'email');
  if (e && !/^[^\s@]+@[^\s@]+$/.test(e)) throw new InvalidInputError('email must look like name@host', 'email');
  return e;
}

function checkName(name: string): void {
  if (!nameRule.test(name)) throw new InvalidInputError('a user name is 1 to 63 characters: lower-case letters, digits, ".", "_" and "-", starting with a letter or digit', 'name');
}

export class UserService {
  private readonly prisma: PrismaClient;
  private readonly tokens: TokenService;
  private readonly config: UserConfig;
  private readonly events: EventBus | undefined;
  private readonly now: () => Date;
  private readonly rights = new Map<number, { rights: OwnerRights; at: number }>();
  private readonly stopListening = new AbortController();

  constructor(prisma: PrismaClient, tokens: TokenService, opts: { config?: UserConfig; events?: EventBus; now?: () => Date } = {}) {
    this.prisma = prisma;
    this.tokens = tokens;
    this.config = opts.config ?? { sessionAccessSecs: 900, sessionRefreshSecs: 30 * 86_400, signinMaxFailures: 5, signinLockoutSecs: 900 };
    this.events = opts.events;
    this.now = opts.now ?? (() => new Date());
    tokens.bindOwnerRights((id) => this.rightsOf(id));
    if (this.events) void this.followChanges(this.events);
  }

  private async followChanges(events: EventBus): Promise<void> {
    try {
      for await (const change of events.subscribe<{ userIds: number[] }>(topics.usersChanged, this.stopListening.signal)) {
        for (const id of Array.isArray(change?.userIds) ? change.userIds : []) this.rights.delete(id);
      }
    } catch (err) {
      if (!this.stopListening.signal.aborted) throw err;
    }
  }

  /** A user's rights changed: every process forgets its cached copy. */
  private async changed(userIds: number[]): Promise<void> {
    for (const id of userIds) this.rights.delete(id);
    await this.events?.publish(topics.usersChanged, { userIds });
  }

  /** What a user may do now: disabled, an fmd admin (no role bounds) or the roles' grants. */
  async rightsOf(userId: number): Promise<OwnerRights> {
    const cached = this.rights.get(userId);
    if (cached && Date.now() - cached.at < rightsCacheMs) return cached.rights;
    const user = await this.prisma.user.findUnique({ where: { id: userId }, select: { disabled: true, isAdmin: true, roles: true } });
    const rights: OwnerRights = !user ? { disabled: true, grants: [] } : { disabled: user.disabled, grants: user.isAdmin ? null : user.roles.map((r) => grantOf(r)) };
    this.rights.set(userId, { rights, at: Date.now() });
    return rights;
  }

  close(): void {
    this.stopListening.abort();
  }

  // --- the bootstrap admin and the operator's command -------------------------------------------

  /**
   * Creates the admin user if no admin exists and returns a token for it; returns null when an
   * admin already exists (its token was printed on the first start; mint another with
   * `npm run token -- --admin`). Safe when several processes start at once: the unique
   * user name decides who bootstraps.
   */
  async bootstrapAdmin(): Promise<string | null> {
    if (await this.prisma.user.findFirst({ where: { isAdmin: true } })) return null;
    try {
      await this.prisma.user.create({ data: { name: bootstrapAdminName, isAdmin: true } });
    } catch {
      return null; // another process created it first
    }
    return this.mintAdminToken('bootstrap admin token');
  }

  async mintAdminToken(name = 'admin token', durationSeconds = year): Promise<string> {
    const admin =
      (await this.prisma.user.findFirst({ where: { isAdmin: true, disabled: false }, orderBy: { id: 'asc' } })) ??
      (await this.prisma.user.create({ data: { name: bootstrapAdminName, isAdmin: true } }));
    const { token } = await this.tokens.mint({ name, scope: [...allScopes], prefixes: [''], repos: [''], duration: durationSeconds }, { ownerId: admin.id });
    return token;
  }

  /** `fmd user create`: the operator on the server, no token needed. */
  async createByOperator(input: NewUser): Promise<User> {
    return this.insertUser(input);
  }

  /** `fmd user set-password` / `unlock` on the server. */
  async operatorSetPassword(name: string, password: string): Promise<User> {
    const user = await this.prisma.user.findUnique({ where: { name } });
    if (!user) throw new NotFoundError('user', name);
    return (await this.setPasswordOf(user.id, password)).user;
  }

  async operatorUnlock(name: string): Promise<User> {
    const user = await this.prisma.user.findUnique({ where: { name } });
    if (!user) throw new NotFoundError('user', name);
    return this.prisma.user.update({ where: { id: user.id }, data: { lockedUntil: null, failedSignIns: 0 } });
  }

  // --- administration ------------------------------------------------------------------------

  private async checkGrants(grants: GrantInput[]): Promise<Array<{ repo: string; prefix: string; role: RoleName }>> {
    const out: Array<{ repo: string; prefix: string; role: RoleName }> = [];
    for (const g of grants) {
      const repo = g.repo ?? '';
      const prefix = g.prefix ?? '';
      if (!roles.includes(g.role)) throw new InvalidInputError(`unknown role ${String(g.role)}; known: ${roles.join(' ')}`, 'role');
      if (prefix !== '' && (prefix.length > 191 || !prefixRule.test(prefix))) throw new InvalidInputError(`prefix "${prefix.slice(0, 80)}" is not an app-id prefix (such as org.example)`, 'prefix');
      if (repo !== '') {
        if (repo.length > 191 || !(await this.prisma.repo.findFirst({ where: { name: repo }, select: { id: true } }))) throw new NotFoundError('repo', repo.slice(0, 80));
      }
      if (out.some((o) => o.repo === repo && o.prefix === prefix)) throw new InvalidInputError(`two roles for repo "${repo}" and prefix "${prefix}"`, 'roles');
      out.push({ repo, prefix, role: g.role });
    }
    return out;
  }

  private async insertUser(input: NewUser): Promise<User> {
    checkName(input.name);
    if (input.password != null) checkPasswordRules(input.password);
    const data = { name: input.name, displayName: text(input.displayName, 'displayName') ?? null, email: email(input.email) ?? null, isAdmin: input.isAdmin === true };
    const grants = await this.checkGrants(input.roles ?? []);
    const passwordHash = input.password != null ? await hashPassword(input.password) : null;
    if (await this.prisma.user.findUnique({ where: { name: input.name }, select: { id: true } })) throw new InvalidInputError(`user ${input.name} exists`, 'name');
    try {
      return await this.prisma.user.create({ data: { ...data, passwordHash, roles: { create: grants } } });
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') throw new InvalidInputError(`user ${input.name} exists`, 'name');
      throw err;
    }
  }

  async create(viewer: Viewer, input: NewUser): Promise<User> {
    requireFmdAdmin(viewer);
    return this.insertUser(input);
  }

  private async userFor(viewer: Viewer, id: number): Promise<User> {
    requireFmdAdmin(viewer);
    const user = await this.prisma.user.findUnique({ where: { id } });
    if (!user) throw new NotFoundError('user', String(id));
    return user;
  }

  async update(viewer: Viewer, id: number, change: UserChange): Promise<User> {
    const user = await this.userFor(viewer, id);
    const data: Partial<Pick<User, 'displayName' | 'email' | 'isAdmin' | 'disabled'>> = {};
    if (change.displayName !== undefined) data.displayName = text(change.displayName, 'displayName') ?? null;
    if (change.email !== undefined) data.email = email(change.email) ?? null;
    if (change.isAdmin != null) data.isAdmin = change.isAdmin;
    if (change.disabled != null) data.disabled = change.disabled;
    if ((data.isAdmin === false || data.disabled === true) && user.isAdmin) await this.keepAnAdmin(user.id);
    if (user.id === viewer.ownerId && (data.disabled === true || data.isAdmin === false)) throw new InvalidInputError('you cannot disable or demote yourself; another admin can', data.disabled ? 'disabled' : 'isAdmin');
    const updated = await this.prisma.user.update({ where: { id }, data });
    await this.changed([id]);
    if (data.disabled === true) await this.endSessions({ userId: id });
    return updated;
  }

  private async keepAnAdmin(leaving: number): Promise<void> {
    const others = await this.prisma.user.count({ where: { isAdmin: true, disabled: false, id: { not: leaving } } });
    if (others === 0) throw new InvalidInputError('fmd needs at least one enabled admin user', 'isAdmin');
  }

  async delete(viewer: Viewer, id: number): Promise<number> {
    const user = await this.userFor(viewer, id);
    if (user.id === viewer.ownerId) throw new InvalidInputError('you cannot delete yourself', 'user');
    if (user.isAdmin) await this.keepAnAdmin(user.id);
    await this.endSessions({ userId: id });
    // Its tokens stop: revoked, then orphaned by the row going (owner_id SET NULL would free them from the roles).
    const owned = await this.prisma.apiToken.findMany({ where: { ownerId: id, revokedAt: null }, select: { jti: true } });
    await this.tokens.revokeInternally(owned.map((t) => t.jti));
    await this.prisma.user.delete({ where: { id } });
    await this.changed([id]);
    return id;
  }

  async setPassword(viewer: Viewer, id: number, password: string): Promise<{ user: User; endedSessions: number }> {
    await this.userFor(viewer, id);
    return this.setPasswordOf(id, password);
  }

  private async setPasswordOf(id: number, password: string, keepSession?: number | null): Promise<{ user: User; endedSessions: number }> {
    checkPasswordRules(password, 'password');
    const user = await this.prisma.user.update({ where: { id }, data: { passwordHash: await hashPassword(password), failedSignIns: 0, lockedUntil: null } });
    const endedSessions = await this.endSessions({ userId: id, except: keepSession ?? null });
    return { user, endedSessions };
  }

  async unlock(viewer: Viewer, id: number): Promise<User> {
    await this.userFor(viewer, id);
    return this.prisma.user.update({ where: { id }, data: { lockedUntil: null, failedSignIns: 0 } });
  }

  async grantRole(viewer: Viewer, id: number, g: GrantInput): Promise<{ grant: RoleGrant; user: User }> {
    const user = await this.userFor(viewer, id);
    const [checked] = await this.checkGrants([g]);
    const grant = await this.prisma.roleGrant.upsert({
      where: { userId_repo_prefix: { userId: id, repo: checked!.repo, prefix: checked!.prefix } },
      create: { userId: id, ...checked! },
      update: { role: checked!.role },
    });
    await this.changed([id]);
    return { grant, user };
  }

  async revokeRole(viewer: Viewer, grantId: number): Promise<User> {
    requireFmdAdmin(viewer);
    const grant = await this.prisma.roleGrant.findUnique({ where: { id: grantId } });
    if (!grant) throw new NotFoundError('role grant', String(grantId));
    await this.prisma.roleGrant.delete({ where: { id: grantId } });
    await this.changed([grant.userId]);
    return this.prisma.user.findUniqueOrThrow({ where: { id: grant.userId } });
  }

  // --- invites ---------------------------------------------------------------------------------

  async createInvite(viewer: Viewer, input: { email?: string | null; isAdmin?: boolean | null; roles?: GrantInput[] | null; expiresInHours?: number | null }): Promise<InviteCreated> {
    requireFmdAdmin(viewer);
    const hours = input.expiresInHours ?? 72;
    if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 90) throw new InvalidInputError('expiresInHours is 1 to 2160', 'expiresInHours');
    const grants = await this.checkGrants(input.roles ?? []);
    const code = secret();
    const invite = await this.prisma.invite.create({
      data: {
        codeHash: sha256(code),
        email: email(input.email) ?? null,
        isAdmin: input.isAdmin === true,
        roles: grants,
        expiresAt: new Date(this.now().getTime() + hours * 3600_000),
        createdById: viewer.ownerId,
      },
    });
    return { invite, code, url: `${this.config.baseUrl ?? ''}/invite/${code}` };
  }

  async deleteInvite(viewer: Viewer, id: number): Promise<number> {
    requireFmdAdmin(viewer);
    const res = await this.prisma.invite.deleteMany({ where: { id } });
    if (res.count === 0) throw new NotFoundError('invite', String(id));
    return id;
  }

  async acceptInvite(input: { code: string; name: string; password: string; displayName?: string | null; email?: string | null; userAgent?: string | null }): Promise<SignedIn> {
    const invite = input.code.length <= 100 ? await this.prisma.invite.findUnique({ where: { codeHash: sha256(input.code) } }) : null;
    if (!invite || invite.usedAt || invite.expiresAt <= this.now()) throw new SignInError('BAD_INVITE', 'this invite is unknown, used or expired; ask an admin for a new one');
    const user = await this.insertUser({
      name: input.name,
      password: input.password,
      displayName: input.displayName,
      email: input.email ?? invite.email,
      isAdmin: invite.isAdmin,
      roles: (invite.roles as Array<{ repo: string; prefix: string; role: RoleName }>).filter((g) => roles.includes(g.role)),
    });
    // Used once: the first to claim it wins; a second account made in the same instant is removed.
    const claimed = await this.prisma.invite.updateMany({ where: { id: invite.id, usedAt: null }, data: { usedAt: this.now(), usedById: user.id } });
    if (claimed.count === 0) {
      await this.prisma.user.delete({ where: { id: user.id } });
      throw new SignInError('BAD_INVITE', 'this invite has just been used');
    }
    return this.openSession(user, input.userAgent ?? null);
  }

  // --- sign-in and sessions --------------------------------------------------------------------

  /** Password sign-in: a session with a short-lived access token and a refresh token. */
  async signIn(input: { username: string; password: string; userAgent?: string | null }): Promise<SignedIn> {
    if (input.username.length > 191 || input.password.length > 4096) throw new SignInError('BAD_CREDENTIALS', 'wrong user name or password');
    const user = await this.prisma.user.findUnique({ where: { name: input.username } });
    if (!user || !user.passwordHash) {
      await verifyNothing(input.password);
      throw new SignInError('BAD_CREDENTIALS', 'wrong user name or password');
    }
    const now = this.now();
    if (user.lockedUntil && user.lockedUntil > now) {
      throw new SignInError('LOCKED', `too many failed sign-ins: the account is locked until ${user.lockedUntil.toISOString()}`, user.lockedUntil);
    }
    if (!(await verifyPassword(input.password, user.passwordHash))) {
      const counted = await this.prisma.user.update({ where: { id: user.id }, data: { failedSignIns: { increment: 1 } }, select: { failedSignIns: true } });
      if (counted.failedSignIns >= this.config.signinMaxFailures) {
        const until = new Date(now.getTime() + this.config.signinLockoutSecs * 1000);
        await this.prisma.user.update({ where: { id: user.id }, data: { lockedUntil: until, failedSignIns: 0 } });
        throw new SignInError('LOCKED', `too many failed sign-ins: the account is locked until ${until.toISOString()}`, until);
      }
      throw new SignInError('BAD_CREDENTIALS', 'wrong user name or password');
    }
    if (user.disabled) throw new SignInError('DISABLED', 'this account is disabled');
    const signedIn = await this.prisma.user.update({ where: { id: user.id }, data: { failedSignIns: 0, lockedUntil: null, lastSignInAt: now } });
    return this.openSession(signedIn, input.userAgent ?? null);
  }

  private async openSession(user: User, userAgent: string | null): Promise<SignedIn> {
    const refreshToken = secret();
    const now = this.now();
    const session = await this.prisma.userSession.create({
      data: { userId: user.id, refreshHash: sha256(refreshToken), userAgent: userAgent?.slice(0, 255).toWellFormed() ?? null, lastUsedAt: now, expiresAt: new Date(now.getTime() + this.config.sessionRefreshSecs * 1000) },
    });
    return this.accessFor(user, session, refreshToken);
  }

  /** The access token of a session: the hull of the user's roles, cut down further on every use. */
  private async accessFor(user: User, session: UserSession, refreshToken: string): Promise<SignedIn> {
    const rights = await this.rightsOf(user.id);
    const grants: readonly Grant[] = rights.grants ?? [{ repo: '', prefix: '', scopes: allScopes }];
    const scope = [...new Set(grants.flatMap((g) => g.scopes))] as Scope[];
    const repos = grants.some((g) => g.repo === '') ? [''] : [...new Set(grants.map((g) => g.repo))];
    const prefixes = grants.some((g) => g.prefix === '') ? [''] : [...new Set(grants.map((g) => g.prefix))];
    const { token, row } = await this.tokens.mint(
      { name: `session ${session.id} of ${user.name}`, scope, repos, prefixes, duration: this.config.sessionAccessSecs },
      { ownerId: user.id, sessionId: session.id },
    );
    return { accessToken: token, accessTokenExpiresAt: row.expiresAt!, refreshToken, refreshTokenExpiresAt: session.expiresAt, session, user };
  }

  /** A new access token and refresh token for a session; the refresh token given stops working. */
  async refresh(input: { refreshToken: string; userAgent?: string | null }): Promise<SignedIn> {
    const bad = new SignInError('BAD_REFRESH_TOKEN', 'this session has ended or the refresh token was already used: sign in again');
    if (input.refreshToken.length > 100) throw bad;
    const now = this.now();
    const session = await this.prisma.userSession.findUnique({ where: { refreshHash: sha256(input.refreshToken) } });
    if (!session || session.endedAt || session.expiresAt <= now) throw bad;
    const user = await this.prisma.user.findUniqueOrThrow({ where: { id: session.userId } });
    if (user.disabled) throw new SignInError('DISABLED', 'this account is disabled');
    const refreshToken = secret();
    // Rotated atomically: of two refreshes with the same token, one wins.
    const rotated = await this.prisma.userSession.updateMany({
      where: { id: session.id, refreshHash: session.refreshHash, endedAt: null },
      data: { refreshHash: sha256(refreshToken), lastUsedAt: now, expiresAt: new Date(now.getTime() + this.config.sessionRefreshSecs * 1000) },
    });
    if (rotated.count === 0) throw bad;
    return this.accessFor(user, await this.prisma.userSession.findUniqueOrThrow({ where: { id: session.id } }), refreshToken);
  }

  /** Ends sessions and revokes their access tokens at once (every process); answers how many ended. */
  private async endSessions(which: { userId: number; except?: number | null; only?: number }): Promise<number> {
    const where = { userId: which.userId, endedAt: null, ...(which.only !== undefined ? { id: which.only } : {}), ...(which.except != null ? { id: { not: which.except } } : {}) };
    const sessions = await this.prisma.userSession.findMany({ where, select: { id: true } });
    if (sessions.length === 0) return 0;
    const ids = sessions.map((s) => s.id);
    await this.prisma.userSession.updateMany({ where: { id: { in: ids } }, data: { endedAt: this.now() } });
    const access = await this.prisma.apiToken.findMany({ where: { sessionId: { in: ids }, revokedAt: null }, select: { jti: true } });
    await this.tokens.revokeInternally(access.map((t) => t.jti));
    return ids.length;
  }

  /** Ends the caller's session (or the one of `refreshToken`, if it is the caller's). */
  async signOut(viewer: Viewer, refreshToken?: string | null): Promise<boolean> {
    const userId = requireOwner(viewer);
    let sessionId = viewer.sessionId ?? null;
    if (refreshToken) {
      const s = await this.prisma.userSession.findUnique({ where: { refreshHash: sha256(refreshToken) } });
      sessionId = s && s.userId === userId ? s.id : null;
    }
    if (sessionId === null) return false;
    return (await this.endSessions({ userId, only: sessionId })) > 0;
  }

  async signOutEverywhere(viewer: Viewer): Promise<number> {
    return this.endSessions({ userId: requireOwner(viewer) });
  }

  async revokeSession(viewer: Viewer, sessionId: number): Promise<UserSession> {
    const session = await this.prisma.userSession.findUnique({ where: { id: sessionId } });
    if (!session || (session.userId !== viewer.ownerId && !isFmdAdmin(viewer))) throw new NotFoundError('session', String(sessionId));
    await this.endSessions({ userId: session.userId, only: session.id });
    return this.prisma.userSession.findUniqueOrThrow({ where: { id: sessionId } });
  }

  /** Open sessions of a user, for the user and for admins (others: none). */
  async sessionsOf(viewer: Viewer, userId: number): Promise<UserSession[]> {
    if (userId !== viewer.ownerId && !isFmdAdmin(viewer)) return [];
    return this.prisma.userSession.findMany({ where: { userId, endedAt: null, expiresAt: { gt: this.now() } }, orderBy: { id: 'desc' } });
  }

  async changePassword(viewer: Viewer, currentPassword: string, newPassword: string): Promise<{ user: User; endedSessions: number }> {
    const userId = requireOwner(viewer);
    const user = await this.prisma.user.findUniqueOrThrow({ where: { id: userId } });
    if (user.passwordHash && !(await verifyPassword(currentPassword.slice(0, 4096), user.passwordHash))) throw new InvalidInputError('the current password is wrong', 'currentPassword');
    if (newPassword === currentPassword) throw new InvalidInputError('the new password is the current one', 'newPassword');
    checkPasswordRules(newPassword, 'newPassword');
    return this.setPasswordOf(userId, newPassword, viewer.sessionId ?? null);
  }

  async updateProfile(viewer: Viewer, change: { displayName?: string | null; email?: string | null }): Promise<User> {
    const userId = requireOwner(viewer);
    const data: { displayName?: string | null; email?: string | null } = {};
    if (change.displayName !== undefined) data.displayName = text(change.displayName, 'displayName') ?? null;
    if (change.email !== undefined) data.email = email(change.email) ?? null;
    return this.prisma.user.update({ where: { id: userId }, data });
  }
}
