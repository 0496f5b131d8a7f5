import { Flags } from '@oclif/core';
import { isErrorResult, type ChangePasswordMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { askSecret, NotInteractiveError, readStdinLines } from '../../prompt.ts';

type Changed = Extract<ChangePasswordMutation['changePassword'], { __typename: 'ChangePasswordPayload' }>;

export default class UserPasswd extends FmdCommand<typeof UserPasswd> {
  static override description = 'Change your own password: asks for the current one and the new one twice, without echo (--password-stdin: the current on the first line of standard input, the new on the second). Your other sessions end.';
  static override examples = ['<%= config.bin %> user passwd', 'printf "%s\\n%s\\n" "$OLD" "$NEW" | <%= config.bin %> user passwd --password-stdin'];

  static override flags = {
    'password-stdin': Flags.boolean({ description: 'read the current and the new password from the first two lines of standard input', default: false }),
  };

  async run(): Promise<Changed> {
    let currentPassword: string;
    let newPassword: string;
    if (this.flags['password-stdin']) {
      [currentPassword = '', newPassword = ''] = await readStdinLines(2);
    } else {
      try {
        currentPassword = await askSecret('Current password: ');
        newPassword = await askSecret('New password: ');
        if ((await askSecret('New password again: ')) !== newPassword) this.error('the two new passwords differ; nothing changed.', { exit: exitCodes.usage });
      } catch (e) {
        if (!(e instanceof NotInteractiveError)) throw e;
        this.error('no terminal to ask for the passwords on.', { exit: exitCodes.usage, suggestions: ['Pipe them in with --password-stdin.'] });
      }
    }
    const { changePassword: result } = await this.client().changePassword({ input: { currentPassword, newPassword } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`changed the password of ${result.user.name}; ended ${result.endedSessions} other session${result.endedSessions === 1 ? '' : 's'}`);
    return result;
  }
}
