import { Flags } from '@oclif/core';
import { parseDuration, type AuditEntryFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../base-command.ts';
import { table, when, type Column } from '../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../pages.ts';

const columns: Column<AuditEntryFieldsFragment>[] = [
  { header: 'time', get: (e) => when(e.createdAt) },
  { header: 'token', get: (e) => e.tokenName ?? e.tokenId ?? '-' },
  { header: 'action', get: (e) => e.action },
  { header: 'target', get: (e) => e.target ?? '-' },
  { header: 'result', get: (e) => e.result },
  { header: 'ip', get: (e) => e.clientIp ?? '-' },
];

export default class Audit extends FmdCommand<typeof Audit> {
  static override description = 'Show the audit log, newest first: every GraphQL mutation and REST write, who made it and how it ended (needs the admin scope). --json adds token ids, subjects and request ids.';
  static override examples = [
    '<%= config.bin %> audit',
    '<%= config.bin %> audit --action createRepo --since 1d',
    "<%= config.bin %> audit --action 'POST /api/v1/build/:id/publish' --result 403",
    '<%= config.bin %> audit --token-id 5f0c… --target repo=stable --json',
  ];

  static override flags = {
    action: Flags.string({ description: 'only this action: a mutation (createRepo) or a method and route (POST /api/v1/build)' }),
    'token-id': Flags.string({ description: 'only writes made with this token id (jti); --token is the token you send' }),
    target: Flags.string({ description: 'only targets containing this (repo=stable, build=12)' }),
    result: Flags.string({ description: 'only this result: ok, an error type (not-found), a GraphQL code (FORBIDDEN) or an HTTP status (403)' }),
    since: Flags.string({ description: 'only entries since this time (ISO) or this long ago (1h, 7d)' }),
    until: Flags.string({ description: 'only entries before this time (ISO) or this long ago (1h, 7d)' }),
    ...pageFlags,
  };

  /** An ISO time, or a duration meaning that long ago. */
  private time(flag: 'since' | 'until', text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    const ago = parseDuration(text);
    if (ago !== undefined) return new Date(Date.now() - ago * 1000).toISOString();
    const at = Date.parse(text);
    if (Number.isNaN(at)) {
      this.error(`--${flag} ${text} is neither a time nor a duration.`, { exit: exitCodes.usage, suggestions: ['Use an ISO time (2026-12-01T08:00:00Z) or how long ago: 30m, 12h, 7d.'] });
    }
    return new Date(at).toISOString();
  }

  async run(): Promise<Page<AuditEntryFieldsFragment>> {
    const { action, target, result } = this.flags;
    const tokenId = this.flags['token-id'];
    const since = this.time('since', this.flags.since);
    const until = this.time('until', this.flags.until);
    const page = await fetchPages(this.flags, async (p) =>
      (
        await this.client().auditLog({
          ...p,
          ...(action && { action }),
          ...(tokenId && { tokenId }),
          ...(target && { target }),
          ...(result && { result }),
          ...(since && { since }),
          ...(until && { until }),
        })
      ).auditLog,
    );
    this.log(table(page.nodes, columns, 'no entries'));
    const more = morePages(page, `${this.config.bin} audit`);
    if (more) this.log(more);
    return page;
  }
}
