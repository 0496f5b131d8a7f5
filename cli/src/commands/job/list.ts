import { Flags } from '@oclif/core';
import { FmdCommand } from '../../base-command.ts';
import { jobColumns } from '../../build-output.ts';
import { table } from '../../output.ts';

const statuses = ['NEW', 'STARTED', 'ENDED', 'BROKEN'] as const;
const kinds = ['commit', 'publish', 'promote', 'update-repo', 'republish', 'check', 'prune', 'delete-repo', 'noop', 'git-build'];

export default class JobList extends FmdCommand<typeof JobList> {
  static override description = 'List jobs, newest first.';
  static override examples = ['<%= config.bin %> job list', '<%= config.bin %> job list --repo stable --kind publish --status broken', '<%= config.bin %> job list --status started --json'];

  static override flags = {
    repo: Flags.string({ description: 'only jobs of this repo' }),
    kind: Flags.string({ description: 'only jobs of this kind', options: kinds }),
    status: Flags.string({ description: 'only jobs with this status', options: statuses.map((s) => s.toLowerCase()) }),
    limit: Flags.integer({ description: 'jobs per page', default: 30, min: 1, max: 500 }),
    after: Flags.string({ description: 'continue after this cursor (printed when there are more)' }),
  };

  async run() {
    const { repo, kind, status, limit, after } = this.flags;
    const { jobs } = await this.client().jobs({
      first: limit,
      ...(after && { after }),
      ...(repo && { repo }),
      ...(kind && { kind }),
      ...(status && { status: status.toUpperCase() as (typeof statuses)[number] }),
    });
    const rows = jobs.edges.map((e) => e.node);
    this.log(table(rows, jobColumns, 'no jobs'));
    if (jobs.pageInfo.hasNextPage && jobs.pageInfo.endCursor) this.log(`${jobs.totalCount} in all; more with --after ${jobs.pageInfo.endCursor}`);
    return { totalCount: jobs.totalCount, jobs: rows, hasNextPage: jobs.pageInfo.hasNextPage, endCursor: jobs.pageInfo.endCursor ?? null };
  }
}
