import { Args, Flags } from '@oclif/core';
import { isErrorResult, type UpdateUserMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { userNamed } from '../../users.ts';

type Updated = Extract<UpdateUserMutation['updateUser'], { __typename: 'UpdateUserPayload' }>;

export default class UserUpdate extends FmdCommand<typeof UserUpdate> {
  static override description = 'Change a user (admin): display name, email, admin, disabled (a disabled user cannot sign in, and its sessions and tokens stop working).';
  static override examples = ['<%= config.bin %> user update alice --email alice@example.org', '<%= config.bin %> user update bob --disable', '<%= config.bin %> user update carol --admin'];

  static override args = { name: Args.string({ description: 'the user', required: true }) };
  static override flags = {
    'display-name': Flags.string({ description: 'the name shown ("" clears it)' }),
    email: Flags.string({ description: 'email address ("" clears it)' }),
    admin: Flags.boolean({ description: 'make an admin (--no-admin: no longer)', allowNo: true }),
    disable: Flags.boolean({ description: 'disable the account', exclusive: ['enable'] }),
    enable: Flags.boolean({ description: 'enable a disabled account' }),
  };

  async run(): Promise<Updated> {
    const f = this.flags;
    const input = {
      ...(f['display-name'] !== undefined && { displayName: f['display-name'] }),
      ...(f.email !== undefined && { email: f.email }),
      ...(f.admin !== undefined && { isAdmin: f.admin }),
      ...(f.disable && { disabled: true }),
      ...(f.enable && { disabled: false }),
    };
    if (Object.keys(input).length === 0) this.error('nothing to change.', { exit: exitCodes.usage, suggestions: ['Pass --display-name, --email, --admin/--no-admin, --disable or --enable.'] });
    const user = await userNamed(this.client(), this.args.name);
    const { updateUser: result } = await this.client().updateUser({ input: { user: user.id, ...input } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`updated user ${result.user.name}${result.user.disabled ? ' (disabled)' : ''}`);
    return result;
  }
}
