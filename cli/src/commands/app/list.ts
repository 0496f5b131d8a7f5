import { Args, Flags } from '@oclif/core';
import type { AppFieldsFragment } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { table } from '../../output.ts';

export default class AppList extends FmdCommand<typeof AppList> {
  static override description = "List the apps of a repo from its appstream data (the catalog), those your token's app-id prefixes cover.";
  static override examples = ['<%= config.bin %> app list stable', '<%= config.bin %> app list stable --search editor', '<%= config.bin %> app list stable --json | jq -r ".[].id"'];

  static override args = { repo: Args.string({ description: 'the repo', required: true }) };
  static override flags = { search: Flags.string({ description: 'words to find in the id, name, summary or developer (any case)' }) };

  async run(): Promise<AppFieldsFragment[]> {
    const { repo } = this.args;
    const { apps } = await this.client().apps({ repo, search: this.flags.search ?? null });
    if (!apps) this.error(`no repo "${repo}" (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc repo list` shows the repos you may read.'] });
    this.log(
      table(
        apps,
        [
          { header: 'id', get: (a) => a.id },
          { header: 'name', get: (a) => a.name },
          { header: 'summary', get: (a) => a.summary },
          { header: 'developer', get: (a) => a.developer },
        ],
        this.flags.search ? 'no app matches' : 'no apps (a published app shows here once its repo is updated)',
      ),
    );
    return apps;
  }
}
