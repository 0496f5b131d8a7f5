import { Args } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class TokenRevoke extends FmdCommand<typeof TokenRevoke> {
  static override description = 'Revoke tokens by id (the jti); tokens created from them stop working too.';
  static override examples = ['<%= config.bin %> token revoke 6f1c2a... 9b3e40...'];
  static override strict = false;

  static override args = {
    ids: Args.string({ description: 'token ids (jti) to revoke', required: true }),
  };

  async run(): Promise<{ revokedCount: number; tokenIds: string[] }> {
    const tokenIds = this.argList;
    const { revokeTokens: result } = await this.client().revokeTokens({ input: { tokenIds } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`revoked ${result.revokedCount} of ${tokenIds.length} token${tokenIds.length === 1 ? '' : 's'}`);
    return { revokedCount: result.revokedCount, tokenIds };
  }
}
