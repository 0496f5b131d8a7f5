import { Args, Flags } from '@oclif/core';
import { isErrorResult, type DeleteUserMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { confirmByName, NotInteractiveError } from '../../prompt.ts';
import { userNamed } from '../../users.ts';

type Deleted = Extract<DeleteUserMutation['deleteUser'], { __typename: 'DeleteUserPayload' }>;

export default class UserDelete extends FmdCommand<typeof UserDelete> {
  static override description = 'Delete a user (admin): its sessions end and its tokens stop working. Asks first unless --yes.';
  static override examples = ['<%= config.bin %> user delete bob', '<%= config.bin %> user delete bob --yes --json'];

  static override args = { name: Args.string({ description: 'the user', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask (needed when stdin is not a terminal)', default: false }),
  };

  async run(): Promise<Deleted> {
    const { name } = this.args;
    if (!this.flags.yes) {
      let confirmed: boolean;
      try {
        confirmed = await confirmByName(`Delete user "${name}"? Its sessions and tokens stop working. This cannot be undone.`, name);
      } catch (e) {
        if (!(e instanceof NotInteractiveError)) throw e;
        this.error(`not deleting user ${name} without --yes: there is no terminal to ask on.`, { exit: exitCodes.usage, suggestions: [`Run \`fmdc user delete ${name} --yes\`.`] });
      }
      if (!confirmed) this.error('not confirmed; nothing deleted.', { exit: exitCodes.usage });
    }
    const user = await userNamed(this.client(), name);
    const { deleteUser: result } = await this.client().deleteUser({ input: { user: user.id } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`deleted user ${name}`);
    return result;
  }
}
