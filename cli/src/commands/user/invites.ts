import type { InviteFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { table, when } from '../../output.ts';
import { grantText } from '../../users.ts';

export default class UserInvites extends FmdCommand<typeof UserInvites> {
  static override description = 'List invites (admin): open and used ones.';
  static override examples = ['<%= config.bin %> user invites'];

  async run(): Promise<InviteFieldsFragment[]> {
    const { invites } = await this.client().invites();
    const now = Date.now();
    this.log(
      table(
        invites,
        [
          { header: 'id', get: (i) => i.id },
          { header: 'email', get: (i) => i.email },
          { header: 'grants', get: (i) => [i.isAdmin ? 'admin' : '', ...i.roles.map(grantText)].filter(Boolean).join('; ') },
          { header: 'created', get: (i) => when(i.createdAt) },
          { header: 'state', get: (i) => (i.usedAt ? `used ${when(i.usedAt)}` : Date.parse(i.expiresAt) < now ? 'expired' : `open until ${when(i.expiresAt)}`) },
        ],
        'no invites',
      ),
    );
    return invites;
  }
}
