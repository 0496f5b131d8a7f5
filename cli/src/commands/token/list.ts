import { Flags } from '@oclif/core';
import type { ApiTokenFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';

export default class TokenList extends FmdCommand<typeof TokenList> {
  static override description = 'List the tokens you may manage, newest first.';
  static override examples = ['<%= config.bin %> token list', '<%= config.bin %> token list --all --limit 100 --json'];

  static override flags = {
    all: Flags.boolean({ description: 'include revoked tokens', default: false }),
    limit: Flags.integer({ description: 'tokens per page', default: 50, min: 1, max: 500 }),
    after: Flags.string({ description: 'continue after this cursor (printed when there are more)' }),
  };

  async run(): Promise<{ totalCount: number; tokens: ApiTokenFieldsFragment[]; hasNextPage: boolean; endCursor: string | null }> {
    const { all, limit, after } = this.flags;
    const { tokens } = await this.client().tokens({ first: limit, includeRevoked: all, ...(after && { after }) });
    const rows = tokens.edges.map((e) => e.node);
    for (const t of rows) {
      const state = t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) < Date.now() ? 'expired' : `expires ${t.expiresAt ?? 'never'}`;
      this.log(`${t.tokenId}  ${t.name}  [${t.scopes.join(',')}]  ${state}`);
    }
    if (rows.length === 0) this.log(all ? 'no tokens' : 'no active tokens (--all shows revoked ones)');
    if (tokens.pageInfo.hasNextPage && tokens.pageInfo.endCursor) this.log(`${tokens.totalCount} in all; more with --after ${tokens.pageInfo.endCursor}`);
    return { totalCount: tokens.totalCount, tokens: rows, hasNextPage: tokens.pageInfo.hasNextPage, endCursor: tokens.pageInfo.endCursor };
  }
}
