import { Args, Flags } from '@oclif/core';
import { isErrorResult, type CreateUserMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { askPassword, NotInteractiveError, PasswordMismatchError } from '../../prompt.ts';
import { grantText, parseGrant } from '../../users.ts';

type Created = Extract<CreateUserMutation['createUser'], { __typename: 'CreateUserPayload' }>;

export default class UserCreate extends FmdCommand<typeof UserCreate> {
  static override description = `Create a user (admin). The password is asked for twice without echo, read from standard input with --password-stdin, or left unset with --no-password (the user cannot sign in until \`fmdc user set-password\`).

Roles: --grant ROLE[:REPO[:PREFIX]] (repeatable); ROLE is viewer, uploader, publisher or repo-admin; REPO "*" or left out for every repo; PREFIX an app-id prefix such as org.example.`;
  static override examples = [
    '<%= config.bin %> user create alice --display-name "Alice A." --email alice@example.org --grant uploader:stable:org.example',
    'printf "%s\\n" "$PW" | <%= config.bin %> user create ci-bot --password-stdin --grant publisher',
    '<%= config.bin %> user create root2 --admin',
  ];

  static override args = { name: Args.string({ description: 'the user name (a-z, 0-9, ".", "_", "-")', required: true }) };
  static override flags = {
    'display-name': Flags.string({ description: 'the name shown' }),
    email: Flags.string({ description: 'email address' }),
    admin: Flags.boolean({ description: 'administers everything (users, keys, repos)', default: false }),
    grant: Flags.string({ description: 'a role grant ROLE[:REPO[:PREFIX]] (repeatable)', multiple: true }),
    'password-stdin': Flags.boolean({ description: 'read the password from the first line of standard input', default: false, exclusive: ['no-password'] }),
    'no-password': Flags.boolean({ description: 'create the user without a password', default: false }),
  };

  async run(): Promise<Created> {
    const { name } = this.args;
    const roles = (this.flags.grant ?? []).map(parseGrant);
    let password: string | undefined;
    if (!this.flags['no-password']) {
      try {
        password = await askPassword({ fromStdin: this.flags['password-stdin'], question: `Password for ${name}: `, confirm: true });
      } catch (e) {
        if (e instanceof PasswordMismatchError) this.error('the two passwords differ; nothing created.', { exit: exitCodes.usage });
        if (!(e instanceof NotInteractiveError)) throw e;
        this.error('no terminal to ask for the password on.', { exit: exitCodes.usage, suggestions: ['Pipe it in with --password-stdin, or pass --no-password.'] });
      }
    }
    const { createUser: result } = await this.client().createUser({
      input: { name, displayName: this.flags['display-name'] ?? null, email: this.flags.email ?? null, isAdmin: this.flags.admin, roles, ...(password !== undefined && { password }) },
    });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`created user ${result.user.name}${result.user.isAdmin ? ' (admin)' : ''}${result.user.roles.length ? ` with ${result.user.roles.map(grantText).join('; ')}` : ''}${result.user.hasPassword ? '' : ', without a password'}`);
    return result;
  }
}
