import { Args } from '@oclif/core';
import type { UserQuery } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { details, table, when } from '../../output.ts';
import { grantText, userNamed } from '../../users.ts';

type ShownUser = NonNullable<UserQuery['user']>;

export default class UserShow extends FmdCommand<typeof UserShow> {
  static override description = "Show a user: profile, roles (with the grant ids `fmdc user revoke-role` takes), open sessions and tokens. Without a name: yourself.";
  static override examples = ['<%= config.bin %> user show alice', '<%= config.bin %> user show --json'];

  static override args = { name: Args.string({ description: 'the user (default: the one signed in)' }) };

  async run(): Promise<ShownUser> {
    const name = this.args.name ?? (await this.client().viewer()).viewer.user?.name;
    if (!name) this.error('this token has no user; name one.', { exit: 2 });
    const { user } = await this.client().user({ name });
    if (!user) await userNamed(this.client(), name); // fails with not found
    const u = user!;
    this.log(
      details({
        name: u.name,
        'display name': u.displayName,
        email: u.email,
        admin: u.isAdmin ? 'yes' : 'no',
        state: u.disabled ? 'disabled' : u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() ? `locked until ${u.lockedUntil}` : 'active',
        password: u.hasPassword ? 'set' : 'none',
        'last sign-in': u.lastSignInAt ? when(u.lastSignInAt) : 'never',
        created: when(u.createdAt),
        id: u.id,
      }),
    );
    this.log('\nroles:');
    this.log(table(u.roles, [{ header: 'grant id', get: (g) => g.id }, { header: 'role', get: (g) => grantText(g) }], '(none)'));
    this.log('\nsessions:');
    this.log(sessionsTable(u.sessions));
    this.log('\ntokens:');
    this.log(table(u.tokens.edges.map((e) => e.node), [{ header: 'id', get: (t) => t.tokenId }, { header: 'name', get: (t) => t.name }, { header: 'scopes', get: (t) => t.scopes.join(',') }, { header: 'expires', get: (t) => (t.revokedAt ? 'revoked' : when(t.expiresAt)) }], '(none)'));
    return u;
  }
}

export function sessionsTable(sessions: ShownUser['sessions']): string {
  return table(
    sessions,
    [
      { header: 'id', get: (s) => s.id },
      { header: 'started', get: (s) => when(s.createdAt) },
      { header: 'last used', get: (s) => when(s.lastUsedAt) },
      { header: 'ends', get: (s) => when(s.expiresAt) },
      { header: 'client', get: (s) => `${s.userAgent ?? ''}${s.current ? ' (this one)' : ''}`.trim() },
    ],
    '(none)',
  );
}
