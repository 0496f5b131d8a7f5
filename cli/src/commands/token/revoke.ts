import { Args } from '@oclif/core';
import { isErrorResult, type RevokeTokensMutation } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

type Revoked = Extract<RevokeTokensMutation['revokeTokens'], { __typename: 'RevokeTokensPayload' }>;

export default class TokenRevoke extends FmdCommand<typeof TokenRevoke> {
  static override description =
    'Revoke tokens by id (the jti); tokens created from them stop working too.\n\nAn id fmd has never seen is not found, except for admins: it is recorded as revoked in advance (for tokens minted elsewhere) and reported apart.';
  static override examples = ['<%= config.bin %> token revoke 6f1c2a0e-...', '<%= config.bin %> token list --json | jq -r \'.nodes[] | select(.name=="ci") | .tokenId\' | xargs <%= config.bin %> token revoke'];
  static override strict = false;

  static override args = {
    ids: Args.string({ description: 'token ids (jti) to revoke; `fmdc token list` shows them', required: true }),
  };

  async run(): Promise<Revoked & { tokenIds: string[] }> {
    const tokenIds = this.argList;
    const { revokeTokens: result } = await this.client().revokeTokens({ input: { tokenIds } });
    if (isErrorResult(result)) this.failWith(result);
    // Ids fmd had never seen, that an admin revoked in advance.
    const pre = result.preRevokedTokenIds;
    const known = tokenIds.length - pre.length;
    this.log(`revoked ${result.revokedCount} of ${known} known token${known === 1 ? '' : 's'}${result.revokedCount < known ? ' (the others were revoked before)' : ''}`);
    if (pre.length) {
      this.log(`not known to fmd, recorded as revoked in advance: ${pre.join(', ')}`);
      this.logToStderr('fmd had never seen these ids: a token minted elsewhere with one of them is refused when it shows up. If one is a typo, no token you meant was revoked by it.');
    }
    return { ...result, tokenIds };
  }
}
