import { Args } from '@oclif/core';
import { isErrorResult, type UnlockUserMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { userNamed } from '../../users.ts';

type Unlocked = Extract<UnlockUserMutation['unlockUser'], { __typename: 'UnlockUserPayload' }>;

export default class UserUnlock extends FmdCommand<typeof UserUnlock> {
  static override description = 'Unlock a user locked out by failed sign-ins (admin).';
  static override examples = ['<%= config.bin %> user unlock alice'];

  static override args = { name: Args.string({ description: 'the user', required: true }) };

  async run(): Promise<Unlocked> {
    const user = await userNamed(this.client(), this.args.name);
    const { unlockUser: result } = await this.client().unlockUser({ input: { user: user.id } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`unlocked ${result.user.name}`);
    return result;
  }
}
