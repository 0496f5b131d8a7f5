import { Flags } from '@oclif/core';
import type { JobFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { jobColumns } from '../../build-output.ts';
import { table } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

const statuses = ['NEW', 'STARTED', 'ENDED', 'BROKEN'] as const;
const kinds = ['commit', 'publish', 'promote', 'update-repo', 'republish', 'check', 'prune', 'delete-repo', 'noop', 'git-build', 'retention-sweep', 'repo-fsck', 'bundle'];

export default class JobList extends FmdCommand<typeof JobList> {
  static override description = 'List jobs, newest first.';
  static override examples = ['<%= config.bin %> job list', '<%= config.bin %> job list --repo stable --kind publish --status broken', '<%= config.bin %> job list --status started --json'];

  static override flags = {
    repo: Flags.string({ description: 'only jobs of this repo' }),
    kind: Flags.string({ description: 'only jobs of this kind', options: kinds }),
    status: Flags.string({ description: 'only jobs with this status', options: statuses.map((s) => s.toLowerCase()) }),
    ...pageFlags,
  };

  async run(): Promise<Page<JobFieldsFragment>> {
    const { repo, kind, status } = this.flags;
    const page = await fetchPages(this.flags, async (p) =>
      (
        await this.client().jobs({
          ...p,
          ...(repo && { repo }),
          ...(kind && { kind }),
          ...(status && { status: status.toUpperCase() as (typeof statuses)[number] }),
        })
      ).jobs,
    );
    this.log(table(page.nodes, jobColumns, 'no jobs'));
    const more = morePages(page, `${this.config.bin} job list`);
    if (more) this.log(more);
    return page;
  }
}
