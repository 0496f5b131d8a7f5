import { Args } from '@oclif/core';
import { isErrorResult, type RevokeSessionMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

type Revoked = Extract<RevokeSessionMutation['revokeSession'], { __typename: 'RevokeSessionPayload' }>;

export default class UserRevokeSession extends FmdCommand<typeof UserRevokeSession> {
  static override description = 'End a session (one of yours, or any for admins); `fmdc user sessions` lists the ids. Its access token stops working at once.';
  static override examples = ['<%= config.bin %> user revoke-session <session id>'];

  static override args = { session: Args.string({ description: 'the session id', required: true }) };

  async run(): Promise<Revoked> {
    const { revokeSession: result } = await this.client().revokeSession({ input: { session: this.args.session } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`ended session ${result.session.id}`);
    return result;
  }
}
