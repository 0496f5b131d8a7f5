import { Flags } from '@oclif/core';
import { FmdCommand } from '../../base-command.ts';
import { buildColumns } from '../../build-output.ts';
import { table } from '../../output.ts';

const states = ['WAITING', 'CLONING', 'BUILDING', 'UPLOADING', 'COMMITTING', 'VALIDATING', 'READY', 'FAILED', 'CANCELLED', 'SUPERSEDED', 'PURGING', 'PURGED'] as const;
const publishedStates = ['UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED'] as const;

export default class BuildList extends FmdCommand<typeof BuildList> {
  static override description = 'List the builds your token covers, newest first.';
  static override examples = [
    '<%= config.bin %> build list',
    '<%= config.bin %> build list --repo stable --state failed',
    '<%= config.bin %> build list --app org.example.App --published published --limit 5 --json',
  ];

  static override flags = {
    repo: Flags.string({ description: 'only builds into this repo' }),
    app: Flags.string({ description: 'only builds of this app id' }),
    state: Flags.string({ description: 'only builds in this state', options: states.map((s) => s.toLowerCase()) }),
    published: Flags.string({ description: 'only builds in this published state', options: publishedStates.map((s) => s.toLowerCase()) }),
    limit: Flags.integer({ description: 'builds per page', default: 30, min: 1, max: 500 }),
    after: Flags.string({ description: 'continue after this cursor (printed when there are more)' }),
  };

  async run() {
    const { repo, app, state, published, limit, after } = this.flags;
    const { builds } = await this.client().builds({
      first: limit,
      ...(after && { after }),
      ...(repo && { repo }),
      ...(app && { appId: app }),
      ...(state && { state: state.toUpperCase() as (typeof states)[number] }),
      ...(published && { publishedState: published.toUpperCase() as (typeof publishedStates)[number] }),
    });
    const rows = builds.edges.map((e) => e.node);
    this.log(table(rows, buildColumns, 'no builds'));
    if (builds.pageInfo.hasNextPage && builds.pageInfo.endCursor) this.log(`${builds.totalCount} in all; more with --after ${builds.pageInfo.endCursor}`);
    return { totalCount: builds.totalCount, builds: rows, hasNextPage: builds.pageInfo.hasNextPage, endCursor: builds.pageInfo.endCursor ?? null };
  }
}
