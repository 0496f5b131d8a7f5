import { Flags } from '@oclif/core';
import type { BuildFieldsFragment } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { buildColumns } from '../../build-output.ts';
import { table } from '../../output.ts';
import { fetchPages, morePages, pageFlags, type Page } from '../../pages.ts';

const states = ['WAITING', 'CLONING', 'BUILDING', 'UPLOADING', 'COMMITTING', 'VALIDATING', 'READY', 'FAILED', 'CANCELLED', 'SUPERSEDED', 'PURGING', 'PURGED'] as const;
const publishedStates = ['UNPUBLISHED', 'PUBLISHING', 'PUBLISHED', 'FAILED'] as const;

export default class BuildList extends FmdCommand<typeof BuildList> {
  static override description = 'List the builds your token covers, newest first.';
  static override examples = [
    '<%= config.bin %> build list',
    '<%= config.bin %> build list --repo stable --state failed',
    '<%= config.bin %> build list --app org.example.App --published published --first 5 --json',
  ];

  static override flags = {
    repo: Flags.string({ description: 'only builds into this repo' }),
    app: Flags.string({ description: 'only builds of this app id' }),
    state: Flags.string({ description: 'only builds in this state', options: states.map((s) => s.toLowerCase()) }),
    published: Flags.string({ description: 'only builds in this published state', options: publishedStates.map((s) => s.toLowerCase()) }),
    ...pageFlags,
  };

  async run(): Promise<Page<BuildFieldsFragment>> {
    const { repo, app, state, published } = this.flags;
    const page = await fetchPages(this.flags, async (p) =>
      (
        await this.client().builds({
          ...p,
          ...(repo && { repo }),
          ...(app && { appId: app }),
          ...(state && { state: state.toUpperCase() as (typeof states)[number] }),
          ...(published && { publishedState: published.toUpperCase() as (typeof publishedStates)[number] }),
        })
      ).builds,
    );
    this.log(table(page.nodes, buildColumns, 'no builds'));
    const more = morePages(page, `${this.config.bin} build list`);
    if (more) this.log(more);
    return page;
  }
}
