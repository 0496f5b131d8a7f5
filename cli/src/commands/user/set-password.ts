import { Args, Flags } from '@oclif/core';
import { isErrorResult, type SetUserPasswordMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { askPassword, NotInteractiveError, PasswordMismatchError } from '../../prompt.ts';
import { userNamed } from '../../users.ts';

type Set = Extract<SetUserPasswordMutation['setUserPassword'], { __typename: 'SetUserPasswordPayload' }>;

export default class UserSetPassword extends FmdCommand<typeof UserSetPassword> {
  static override description = "Set a user's password (admin); the user's sessions end. Asked for twice without echo, or read from standard input with --password-stdin.";
  static override examples = ['<%= config.bin %> user set-password alice', 'printf "%s\\n" "$PW" | <%= config.bin %> user set-password ci-bot --password-stdin'];

  static override args = { name: Args.string({ description: 'the user', required: true }) };
  static override flags = {
    'password-stdin': Flags.boolean({ description: 'read the password from the first line of standard input', default: false }),
  };

  async run(): Promise<Set> {
    const { name } = this.args;
    const user = await userNamed(this.client(), name);
    let password: string;
    try {
      password = await askPassword({ fromStdin: this.flags['password-stdin'], question: `New password for ${name}: `, confirm: true });
    } catch (e) {
      if (e instanceof PasswordMismatchError) this.error('the two passwords differ; nothing changed.', { exit: exitCodes.usage });
      if (!(e instanceof NotInteractiveError)) throw e;
      this.error('no terminal to ask for the password on.', { exit: exitCodes.usage, suggestions: ['Pipe it in with --password-stdin.'] });
    }
    const { setUserPassword: result } = await this.client().setUserPassword({ input: { user: user.id, password } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`set the password of ${name}; ended ${result.endedSessions} session${result.endedSessions === 1 ? '' : 's'}`);
    return result;
  }
}
