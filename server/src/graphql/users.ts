// User accounts: sign-in with a password, sessions, roles and invites (see domain/users).
import { builder } from './builder.ts';
import { countFor, startCount } from './connections.ts';
import { ErrorInterface } from './errors.ts';
import { rowId } from './node.ts';
import { UserRef } from './viewer.ts';
import { ForbiddenError, InvalidInputError, NotFoundError, SignInError } from '../domain/errors.ts';
import { roles, type RoleName } from '../domain/users/roles.ts';
import { visibleUsersWhere } from '../domain/users/access.ts';
import type { SignedIn } from '../domain/users/service.ts';
import type { Invite, UserSession } from '../generated/prisma/client.ts';
import type { GraphQLContext } from './context.ts';

const fmdAdmins = { scope: 'admin' } as const;
const signedIn = { authenticated: true } as const;
const adminErrors = { types: [ForbiddenError, InvalidInputError, NotFoundError] };

const RoleEnum = builder.enumType('Role', {
  description: 'Cumulative: VIEWER reads and downloads; UPLOADER also builds, uploads and follows jobs; PUBLISHER also publishes, republishes and reviews; REPO_ADMIN also generates and manages the repo (settings, retention, webhooks) and its tokens.',
  values: roles,
});

const SignInProblemEnum = builder.enumType('SignInProblem', {
  values: ['BAD_CREDENTIALS', 'LOCKED', 'DISABLED', 'BAD_REFRESH_TOKEN', 'BAD_INVITE'] as const,
});

builder.objectType(SignInError, {
  name: 'SignInError',
  description: 'A sign-in, refresh or invite was refused. Wrong names and wrong passwords are both BAD_CREDENTIALS.',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof SignInError,
  fields: (t) => ({
    reason: t.field({ type: SignInProblemEnum, resolve: (e) => e.reason }),
    lockedUntil: t.field({ type: 'DateTime', nullable: true, description: 'LOCKED: when the account opens again', resolve: (e) => e.lockedUntil }),
  }),
});

builder.prismaNode('RoleGrant', {
  id: { field: 'id' },
  fields: (t) => ({
    repo: t.string({ nullable: true, description: 'null: every repo', resolve: (g) => g.repo || null }),
    prefix: t.exposeString('prefix', { description: '"": every app id' }),
    role: t.field({ type: RoleEnum, resolve: (g) => g.role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const SessionRef = builder.prismaNode('UserSession', {
  name: 'Session',
  id: { field: 'id' },
  description: 'A password sign-in. Its refresh token mints access tokens until it ends or expires.',
  fields: (t) => ({
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', description: 'the sign-in or the last refresh' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'when the refresh token stops working' }),
    userAgent: t.exposeString('userAgent', { nullable: true }),
    current: t.boolean({ description: 'the session of the token making this request', resolve: (s, _a, ctx) => ctx.viewer?.sessionId === s.id }),
  }),
});

builder.prismaObjectFields('User', (t) => ({
  displayName: t.exposeString('displayName', { nullable: true }),
  email: t.exposeString('email', { nullable: true }),
  disabled: t.exposeBoolean('disabled'),
  lockedUntil: t.field({ type: 'DateTime', nullable: true, description: 'set while locked out after failed sign-ins', resolve: (u) => (u.lockedUntil && u.lockedUntil > new Date() ? u.lockedUntil : null) }),
  lastSignInAt: t.expose('lastSignInAt', { type: 'DateTime', nullable: true }),
  hasPassword: t.boolean({ resolve: (u) => u.passwordHash !== null }),
  roles: t.relation('roles', { query: { orderBy: [{ repo: 'asc' }, { prefix: 'asc' }] } }),
  sessions: t.field({
    type: [SessionRef],
    description: 'open sessions: for yourself and for admins (others: empty)',
    resolve: (u, _a, ctx) => ctx.services.users.sessionsOf(ctx.viewer!, u.id),
  }),
}));

const RoleGrantSpec = builder.objectRef<{ repo: string; prefix: string; role: RoleName }>('RoleGrantSpec').implement({
  fields: (t) => ({
    repo: t.string({ nullable: true, description: 'null: every repo', resolve: (g) => g.repo || null }),
    prefix: t.exposeString('prefix'),
    role: t.field({ type: RoleEnum, resolve: (g) => g.role }),
  }),
});

/** An invite row, with its code and URL only in createInvite's answer. */
type InviteView = Invite & { code?: string; url?: string };

builder.prismaNode('Invite', {
  id: { field: 'id' },
  fields: (t) => ({
    code: t.string({ nullable: true, description: "only in createInvite's answer", resolve: (i) => (i as InviteView).code ?? null }),
    url: t.string({ nullable: true, description: "the dashboard's page to accept it; only in createInvite's answer", resolve: (i) => (i as InviteView).url ?? null }),
    email: t.exposeString('email', { nullable: true }),
    isAdmin: t.exposeBoolean('isAdmin'),
    roles: t.field({ type: [RoleGrantSpec], resolve: (i) => i.roles as Array<{ repo: string; prefix: string; role: RoleName }> }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    usedAt: t.expose('usedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const RoleGrantInput = builder.inputType('RoleGrantInput', {
  fields: (t) => ({
    repo: t.string({ description: 'omitted or null: every repo' }),
    prefix: t.string({ defaultValue: '', description: '"": every app id; else an app-id prefix such as org.example' }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

// --- queries -----------------------------------------------------------------------------------

builder.queryField('users', (t) =>
  t.prismaConnection({
    type: 'User',
    cursor: 'id',
    description: 'Users by name: admins see all, others themselves. `search` matches part of the name, display name or email.',
    authScopes: signedIn,
    args: { search: t.arg.string() },
    totalCount: (_root, args, ctx, info) => countFor(info, () => ctx.services.prisma.user.count({ where: usersWhere(ctx, args.search) })),
    resolve: (query, _root, args, ctx, info) => {
      const where = usersWhere(ctx, args.search);
      startCount(info, () => ctx.services.prisma.user.count({ where }));
      return ctx.services.prisma.user.findMany({ ...query, where, orderBy: { name: 'asc' } });
    },
  }),
);

function usersWhere(ctx: GraphQLContext, search: string | null | undefined) {
  if (search != null && search.length > 255) throw new InvalidInputError('search is at most 255 characters', 'search');
  const s = search?.trim();
  const match = s ? { OR: [{ name: { contains: s } }, { displayName: { contains: s } }, { email: { contains: s } }] } : {};
  return { AND: [visibleUsersWhere(ctx.viewer!), match] };
}

builder.queryField('user', (t) =>
  t.prismaField({
    type: 'User',
    nullable: true,
    description: 'A user by name; null when unknown or not yours to see.',
    authScopes: signedIn,
    args: { name: t.arg.string({ required: true }) },
    resolve: (query, _root, args, ctx) => ctx.services.prisma.user.findFirst({ ...query, where: { AND: [{ name: args.name.slice(0, 191) }, visibleUsersWhere(ctx.viewer!)] } }),
  }),
);

builder.queryField('invites', (t) =>
  t.prismaField({
    type: ['Invite'],
    description: 'Invites not used yet, newest first (admins).',
    authScopes: fmdAdmins,
    resolve: (query, _root, _args, ctx) => ctx.services.prisma.invite.findMany({ ...query, where: { usedAt: null }, orderBy: { id: 'desc' } }),
  }),
);

// --- sign-in -----------------------------------------------------------------------------------

const SignInPayload = builder.objectRef<SignedIn>('SignInPayload').implement({
  description: 'Send `accessToken` as a Bearer token; before it expires, trade `refreshToken` for new ones with refreshSession.',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken'),
    accessTokenExpiresAt: t.expose('accessTokenExpiresAt', { type: 'DateTime' }),
    refreshToken: t.exposeString('refreshToken', { description: 'shown once; each refresh replaces it' }),
    refreshTokenExpiresAt: t.expose('refreshTokenExpiresAt', { type: 'DateTime' }),
    session: t.field({ type: SessionRef, resolve: (p) => p.session }),
    user: t.field({ type: UserRef, resolve: (p) => p.user }),
  }),
});

const SignInInput = builder.inputType('SignInInput', {
  fields: (t) => ({ username: t.string({ required: true }), password: t.string({ required: true }) }),
});

builder.mutationField('signIn', (t) =>
  t.field({
    type: SignInPayload,
    description: 'Signs in with a user name and password (no token needed). Repeated failures lock the account for a while.',
    errors: { types: [SignInError, InvalidInputError] },
    args: { input: t.arg({ type: SignInInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.signIn({ username: input.username, password: input.password, userAgent: ctx.userAgent ?? null }),
  }),
);

const RefreshSessionInput = builder.inputType('RefreshSessionInput', { fields: (t) => ({ refreshToken: t.string({ required: true }) }) });

builder.mutationField('refreshSession', (t) =>
  t.field({
    type: SignInPayload,
    description: 'Trades a refresh token for a new access token and a new refresh token (the one given stops working). No token needed.',
    errors: { types: [SignInError] },
    args: { input: t.arg({ type: RefreshSessionInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.refresh({ refreshToken: input.refreshToken, userAgent: ctx.userAgent ?? null }),
  }),
);

const AcceptInviteInput = builder.inputType('AcceptInviteInput', {
  fields: (t) => ({
    code: t.string({ required: true }),
    name: t.string({ required: true }),
    password: t.string({ required: true }),
    displayName: t.string(),
    email: t.string(),
  }),
});

builder.mutationField('acceptInvite', (t) =>
  t.field({
    type: SignInPayload,
    description: 'Creates your account from an invite and signs you in (no token needed).',
    errors: { types: [SignInError, InvalidInputError, NotFoundError] },
    args: { input: t.arg({ type: AcceptInviteInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.acceptInvite({ ...input, userAgent: ctx.userAgent ?? null }),
  }),
);

const SignOutInput = builder.inputType('SignOutInput', { fields: (t) => ({ refreshToken: t.string({ description: "the session to end (yours); default: the current token's" }) }) });
const SignOutPayload = builder.objectRef<{ ended: boolean }>('SignOutPayload').implement({ fields: (t) => ({ ended: t.exposeBoolean('ended') }) });

builder.mutationField('signOut', (t) =>
  t.field({
    type: SignOutPayload,
    description: 'Ends your session: its refresh token and access tokens stop working at once.',
    authScopes: signedIn,
    errors: { types: [ForbiddenError] },
    args: { input: t.arg({ type: SignOutInput }) },
    resolve: async (_r, { input }, ctx) => ({ ended: await ctx.services.users.signOut(ctx.viewer!, input?.refreshToken ?? null) }),
  }),
);

const SignOutEverywherePayload = builder.objectRef<{ endedSessions: number }>('SignOutEverywherePayload').implement({
  fields: (t) => ({ endedSessions: t.exposeInt('endedSessions') }),
});

builder.mutationField('signOutEverywhere', (t) =>
  t.field({
    type: SignOutEverywherePayload,
    description: 'Ends every session of your user, this one included (tokens you created are kept: revoke them with revokeTokens).',
    authScopes: signedIn,
    errors: { types: [ForbiddenError] },
    resolve: async (_r, _a, ctx) => ({ endedSessions: await ctx.services.users.signOutEverywhere(ctx.viewer!) }),
  }),
);

const RevokeSessionInput = builder.inputType('RevokeSessionInput', { fields: (t) => ({ session: t.id({ required: true }) }) });
const RevokeSessionPayload = builder.objectRef<{ session: UserSession }>('RevokeSessionPayload').implement({
  fields: (t) => ({ session: t.field({ type: SessionRef, resolve: (p) => p.session }) }),
});

builder.mutationField('revokeSession', (t) =>
  t.field({
    type: RevokeSessionPayload,
    description: 'Ends one session: one of yours, or anyone’s for admins.',
    authScopes: signedIn,
    errors: { types: [NotFoundError, InvalidInputError] },
    args: { input: t.arg({ type: RevokeSessionInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ session: await ctx.services.users.revokeSession(ctx.viewer!, rowId('Session', input.session, 'session')) }),
  }),
);

// --- your own account --------------------------------------------------------------------------

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({ currentPassword: t.string({ required: true }), newPassword: t.string({ required: true }) }),
});
type PasswordChange = { user: import('../generated/prisma/client.ts').User; endedSessions: number };
const PasswordPayload = (name: string) =>
  builder.objectRef<PasswordChange>(name).implement({
    fields: (t) => ({ user: t.field({ type: UserRef, resolve: (p) => p.user }), endedSessions: t.exposeInt('endedSessions') }),
  });

builder.mutationField('changePassword', (t) =>
  t.field({
    type: PasswordPayload('ChangePasswordPayload'),
    description: 'Changes your password; your other sessions end.',
    authScopes: signedIn,
    errors: { types: [ForbiddenError, InvalidInputError] },
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.changePassword(ctx.viewer!, input.currentPassword, input.newPassword),
  }),
);

const UpdateProfileInput = builder.inputType('UpdateProfileInput', { fields: (t) => ({ displayName: t.string(), email: t.string() }) });
const UserPayload = (name: string) =>
  builder.objectRef<{ user: import('../generated/prisma/client.ts').User }>(name).implement({ fields: (t) => ({ user: t.field({ type: UserRef, resolve: (p) => p.user }) }) });

builder.mutationField('updateProfile', (t) =>
  t.field({
    type: UserPayload('UpdateProfilePayload'),
    description: 'Changes your display name or email (omitted fields are kept, "" clears).',
    authScopes: signedIn,
    errors: { types: [ForbiddenError, InvalidInputError] },
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ user: await ctx.services.users.updateProfile(ctx.viewer!, input) }),
  }),
);

// --- administration ----------------------------------------------------------------------------

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'lower-case letters, digits, ".", "_" and "-"; 1 to 63' }),
    displayName: t.string(),
    email: t.string(),
    password: t.string({ description: '10 to 1024 characters; omitted: no password sign-in until one is set' }),
    isAdmin: t.boolean({ defaultValue: false }),
    roles: t.field({ type: [RoleGrantInput], defaultValue: [] }),
  }),
});

builder.mutationField('createUser', (t) =>
  t.field({
    type: UserPayload('CreateUserPayload'),
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ user: await ctx.services.users.create(ctx.viewer!, input) }),
  }),
);

const UpdateUserInput = builder.inputType('UpdateUserInput', {
  fields: (t) => ({ user: t.id({ required: true }), displayName: t.string(), email: t.string(), isAdmin: t.boolean(), disabled: t.boolean({ description: 'a disabled user cannot sign in, and its tokens stop working' }) }),
});

builder.mutationField('updateUser', (t) =>
  t.field({
    type: UserPayload('UpdateUserPayload'),
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: UpdateUserInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const { user, ...change } = input;
      return { user: await ctx.services.users.update(ctx.viewer!, rowId('User', user, 'user'), change) };
    },
  }),
);

const UserIdInput = (name: string) => builder.inputType(name, { fields: (t) => ({ user: t.id({ required: true }) }) });

builder.mutationField('deleteUser', (t) =>
  t.field({
    type: builder.objectRef<{ deletedUserId: string }>('DeleteUserPayload').implement({ fields: (f) => ({ deletedUserId: f.exposeID('deletedUserId') }) }),
    description: 'Deletes a user: its sessions end and its tokens are revoked.',
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: UserIdInput('DeleteUserInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => ({ deletedUserId: String(await ctx.services.users.delete(ctx.viewer!, rowId('User', input.user, 'user'))) }),
  }),
);

const SetUserPasswordInput = builder.inputType('SetUserPasswordInput', { fields: (t) => ({ user: t.id({ required: true }), password: t.string({ required: true }) }) });

builder.mutationField('setUserPassword', (t) =>
  t.field({
    type: PasswordPayload('SetUserPasswordPayload'),
    description: "Sets a user's password and unlocks it; its sessions end.",
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: SetUserPasswordInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.setPassword(ctx.viewer!, rowId('User', input.user, 'user'), input.password),
  }),
);

builder.mutationField('unlockUser', (t) =>
  t.field({
    type: UserPayload('UnlockUserPayload'),
    description: 'Lifts a lockout after failed sign-ins.',
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: UserIdInput('UnlockUserInput'), required: true }) },
    resolve: async (_r, { input }, ctx) => ({ user: await ctx.services.users.unlock(ctx.viewer!, rowId('User', input.user, 'user')) }),
  }),
);

const GrantRoleInput = builder.inputType('GrantRoleInput', {
  fields: (t) => ({
    user: t.id({ required: true }),
    repo: t.string({ description: 'omitted or null: every repo' }),
    prefix: t.string({ defaultValue: '', description: '"": every app id' }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

builder.mutationField('grantRole', (t) =>
  t.field({
    type: builder.objectRef<{ grant: import('../generated/prisma/client.ts').RoleGrant; user: import('../generated/prisma/client.ts').User }>('GrantRolePayload').implement({
      fields: (f) => ({ grant: f.prismaField({ type: 'RoleGrant', resolve: (_q, p) => p.grant }), user: f.field({ type: UserRef, resolve: (p) => p.user }) }),
    }),
    description: "Gives a user a role on a repo and prefix (replacing the role it had there). Takes effect on the user's tokens at once.",
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: GrantRoleInput, required: true }) },
    resolve: (_r, { input }, ctx) => ctx.services.users.grantRole(ctx.viewer!, rowId('User', input.user, 'user'), { repo: input.repo, prefix: input.prefix, role: input.role }),
  }),
);

const RevokeRoleInput = builder.inputType('RevokeRoleInput', { fields: (t) => ({ grant: t.id({ required: true }) }) });

builder.mutationField('revokeRole', (t) =>
  t.field({
    type: UserPayload('RevokeRolePayload'),
    description: "Takes a role away; the user's tokens lose it at once.",
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: RevokeRoleInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ user: await ctx.services.users.revokeRole(ctx.viewer!, rowId('RoleGrant', input.grant, 'grant')) }),
  }),
);

const CreateInviteInput = builder.inputType('CreateInviteInput', {
  fields: (t) => ({
    email: t.string(),
    isAdmin: t.boolean({ defaultValue: false }),
    roles: t.field({ type: [RoleGrantInput], defaultValue: [] }),
    expiresInHours: t.int({ defaultValue: 72, description: '1 to 2160' }),
  }),
});

builder.mutationField('createInvite', (t) =>
  t.field({
    type: builder.objectRef<{ invite: InviteView }>('CreateInvitePayload').implement({
      fields: (f) => ({ invite: f.prismaField({ type: 'Invite', resolve: (_q, p) => p.invite }) }),
    }),
    description: 'An invite link: whoever opens it before it expires creates one account with these rights. The code is shown only here.',
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: CreateInviteInput, required: true }) },
    resolve: async (_r, { input }, ctx) => {
      const { invite, code, url } = await ctx.services.users.createInvite(ctx.viewer!, input);
      return { invite: { ...invite, code, url } };
    },
  }),
);

const DeleteInviteInput = builder.inputType('DeleteInviteInput', { fields: (t) => ({ invite: t.id({ required: true }) }) });

builder.mutationField('deleteInvite', (t) =>
  t.field({
    type: builder.objectRef<{ deletedInviteId: string }>('DeleteInvitePayload').implement({ fields: (f) => ({ deletedInviteId: f.exposeID('deletedInviteId') }) }),
    authScopes: fmdAdmins,
    errors: adminErrors,
    args: { input: t.arg({ type: DeleteInviteInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ deletedInviteId: String(await ctx.services.users.deleteInvite(ctx.viewer!, rowId('Invite', input.invite, 'invite'))) }),
  }),
);
