import { Flags } from '@oclif/core';
import { isErrorResult, type CreateInviteMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { parseGrant } from '../../users.ts';

type Created = Extract<CreateInviteMutation['createInvite'], { __typename: 'CreateInvitePayload' }>;

export default class UserInvite extends FmdCommand<typeof UserInvite> {
  static override description = 'Create an invite (admin): a link with which one person picks a user name and password and gets the roles given here. The code is shown only now.';
  static override examples = ['<%= config.bin %> user invite --email new@example.org --grant uploader:stable', '<%= config.bin %> user invite --expires-in-hours 24 --json | jq -r .invite.url'];

  static override flags = {
    email: Flags.string({ description: 'whom it is for (a note; fmd sends no mail)' }),
    admin: Flags.boolean({ description: 'the new user is an admin', default: false }),
    grant: Flags.string({ description: 'a role grant ROLE[:REPO[:PREFIX]] (repeatable)', multiple: true }),
    'expires-in-hours': Flags.integer({ description: 'how long the link works', default: 72, min: 1 }),
  };

  async run(): Promise<Created> {
    const roles = (this.flags.grant ?? []).map(parseGrant);
    const { createInvite: result } = await this.client().createInvite({
      input: { email: this.flags.email ?? null, isAdmin: this.flags.admin, roles, expiresInHours: this.flags['expires-in-hours'] },
    });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`invite ${result.invite.id}, until ${result.invite.expiresAt}:`);
    // Without fmd's base-url the server answers a path: on this server.
    const url = new URL(result.invite.url ?? `/invite/${result.invite.code ?? ''}`, this.serverUrl()).href;
    this.log(url);
    return { ...result, invite: { ...result.invite, url } };
  }
}
