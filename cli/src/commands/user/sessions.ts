import { Args } from '@oclif/core';
import type { SessionFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { userNamed } from '../../users.ts';
import { sessionsTable } from './show.ts';

export default class UserSessions extends FmdCommand<typeof UserSessions> {
  static override description = "List a user's open sessions (password sign-ins): yours without a name; any user's for admins.";
  static override examples = ['<%= config.bin %> user sessions', '<%= config.bin %> user sessions alice'];

  static override args = { name: Args.string({ description: 'the user (default: the one signed in)' }) };

  async run(): Promise<SessionFieldsFragment[]> {
    const name = this.args.name ?? (await this.client().viewer()).viewer.user?.name;
    if (!name) this.error('this token has no user; name one.', { exit: 2 });
    const { sessions } = await userNamed(this.client(), name);
    this.log(sessionsTable(sessions));
    return sessions;
  }
}
