import { Args, Flags } from '@oclif/core';
import { isErrorResult, Role, type GrantRoleMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { grantText, parseGrant, userNamed } from '../../users.ts';

type Granted = Extract<GrantRoleMutation['grantRole'], { __typename: 'GrantRolePayload' }>;

export default class UserGrant extends FmdCommand<typeof UserGrant> {
  static override description = 'Grant a user a role (admin): on one repo or every repo, for every app or the app ids under a prefix. viewer: read and download; uploader: + build, upload, jobs; publisher: + publish, republish; repo-admin: + the repo\'s settings and tokens.';
  static override examples = ['<%= config.bin %> user grant alice --role uploader --repo stable --prefix org.example', '<%= config.bin %> user grant bob --role viewer'];

  static override args = { name: Args.string({ description: 'the user', required: true }) };
  static override flags = {
    role: Flags.string({ description: 'the role', required: true, options: Object.values(Role).map((r) => r.toLowerCase().replace(/_/g, '-')) }),
    repo: Flags.string({ description: 'the repo (default: every repo)' }),
    prefix: Flags.string({ description: 'an app-id prefix such as org.example (default: every app)', default: '' }),
  };

  async run(): Promise<Granted> {
    const grant = parseGrant(`${this.flags.role}:${this.flags.repo ?? ''}:${this.flags.prefix}`);
    const user = await userNamed(this.client(), this.args.name);
    const { grantRole: result } = await this.client().grantRole({ input: { user: user.id, ...grant } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`granted ${result.user.name} ${grantText(result.grant)} (grant ${result.grant.id})`);
    return result;
  }
}
