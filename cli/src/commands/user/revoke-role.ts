import { Args } from '@oclif/core';
import { isErrorResult, type RevokeRoleMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { grantText } from '../../users.ts';

type Revoked = Extract<RevokeRoleMutation['revokeRole'], { __typename: 'RevokeRolePayload' }>;

export default class UserRevokeRole extends FmdCommand<typeof UserRevokeRole> {
  static override description = "Take a role grant away (admin); `fmdc user show <name>` lists the grant ids. The user's tokens lose what the grant gave at once.";
  static override examples = ['<%= config.bin %> user revoke-role <grant id>'];

  static override args = { grant: Args.string({ description: 'the grant id', required: true }) };

  async run(): Promise<Revoked> {
    const { revokeRole: result } = await this.client().revokeRole({ input: { grant: this.args.grant } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`revoked; ${result.user.name} now has ${result.user.roles.map(grantText).join('; ') || 'no roles'}`);
    return result;
  }
}
