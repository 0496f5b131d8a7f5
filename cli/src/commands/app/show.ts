import { Args, Flags } from '@oclif/core';
import type { AppQuery } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { bytes, details, table, when } from '../../output.ts';

export default class AppShow extends FmdCommand<typeof AppShow> {
  static override description = 'Show an app of a repo: what its appstream data says, how to install it, its refs, releases and published builds.';
  static override examples = ['<%= config.bin %> app show stable org.example.App', '<%= config.bin %> app show stable org.example.App --json'];

  static override args = {
    repo: Args.string({ description: 'the repo', required: true }),
    id: Args.string({ description: 'the app id', required: true }),
  };
  static override flags = { builds: Flags.integer({ description: 'published builds to list (at most 100)', default: 20, min: 1, max: 100 }) };

  async run(): Promise<NonNullable<AppQuery['app']>> {
    const { repo, id } = this.args;
    const client = this.client();
    const { app } = await client.app({ repo, id, buildsFirst: this.flags.builds });
    if (!app) this.error(`no app "${id}" in repo "${repo}" (or your token may not see it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: [`\`fmdc app list ${repo}\` shows the apps you may see.`] });
    const abs = (u: string | null) => (u ? new URL(u, client.endpoint).href : undefined);
    this.log(
      details({
        id: app.id,
        name: app.name,
        summary: app.summary,
        developer: app.developer,
        license: app.license,
        homepage: app.homepage,
        arches: app.arches,
        icon: abs(app.iconUrl),
        install: app.installCommand,
        '.flatpakref': abs(app.flatpakrefUrl),
      }),
    );
    if (app.description) this.log(`\n${app.description}`);
    this.log('');
    this.log(
      table(
        app.refs,
        [
          { header: 'ref', get: (r) => r.name },
          { header: 'commit', get: (r) => r.commit.slice(0, 12) },
          { header: 'date', get: (r) => when(r.timestamp) },
          { header: 'download', get: (r) => bytes(r.downloadSize), right: true },
          { header: 'installed', get: (r) => bytes(r.installedSize), right: true },
          { header: 'end of life', get: (r) => r.endOfLife ?? (r.endOfLifeRebase && `rebase to ${r.endOfLifeRebase}`) },
        ],
        'no refs',
      ),
    );
    this.log('');
    this.log(table(app.releases, [{ header: 'release', get: (r) => r.version }, { header: 'date', get: (r) => r.date }, { header: 'notes', get: (r) => r.description?.replace(/\s+/g, ' ') }], 'no releases named'));
    this.log('');
    this.log(table(app.builds, [{ header: 'build', get: (b) => `#${b.number}` }, { header: 'state', get: (b) => b.state }, { header: 'published', get: (b) => b.publishedState }, { header: 'created', get: (b) => when(b.createdAt) }], 'no published builds you may read'));
    return app;
  }
}
