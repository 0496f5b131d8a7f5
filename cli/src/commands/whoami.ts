import { FmdCommand } from '../base-command.ts';
import type { ViewerQuery } from '@fmd/sdk';

export default class Whoami extends FmdCommand<typeof Whoami> {
  static override description = 'Show who the token belongs to and what it may do.';
  static override examples = ['<%= config.bin %> whoami --url http://localhost:8080 --token $FMDC_TOKEN', 'FMDC_TOKEN=... <%= config.bin %> whoami --json'];

  async run(): Promise<ViewerQuery['viewer']> {
    const { viewer } = await this.client().viewer();
    const any = (list: string[]) => (list.length === 0 || list.includes('') ? 'any' : list.join(', '));
    const who = viewer.user ? `${viewer.user.name}${viewer.user.isAdmin ? ' (admin)' : ''}` : 'no user';
    this.log(`${who}, token ${viewer.name ? `"${viewer.name}" ` : ''}${viewer.tokenId ?? '(no jti)'}`);
    this.log(`scopes:   ${viewer.scopes.join(', ') || 'none'}`);
    this.log(`prefixes: ${any(viewer.prefixes)}; apps: ${any(viewer.apps)}; repos: ${any(viewer.repos)}`);
    if (viewer.subject) this.log(`subject:  ${viewer.subject}`);
    this.log(`expires:  ${viewer.expiresAt}`);
    return viewer;
  }
}
