import { Args, Flags } from '@oclif/core';
import { isErrorResult, type DeleteRepoMutation } from '@fmd/sdk';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { confirmByName, NotInteractiveError } from '../../prompt.ts';

type Deleted = Extract<DeleteRepoMutation['deleteRepo'], { __typename: 'DeleteRepoPayload' }>;

export default class RepoDelete extends FmdCommand<typeof RepoDelete> {
  static override description = 'Delete a repo (admin). Asks first unless --yes.\n\nThe repo is hidden from clients at once, then a job removes its files and builds.';
  static override examples = ['<%= config.bin %> repo delete test', '<%= config.bin %> repo delete test --yes --json'];

  static override args = { name: Args.string({ description: 'the repo', required: true }) };
  static override flags = {
    yes: Flags.boolean({ char: 'y', description: 'do not ask (needed when stdin is not a terminal)', default: false }),
  };

  async run(): Promise<Deleted> {
    const { name } = this.args;
    if (!this.flags.yes) {
      let confirmed: boolean;
      try {
        confirmed = await confirmByName(`Delete repo "${name}" with everything it serves? This cannot be undone.`, name);
      } catch (e) {
        if (!(e instanceof NotInteractiveError)) throw e;
        this.error(`not deleting repo ${name} without --yes: there is no terminal to ask on.`, { exit: exitCodes.usage, suggestions: [`Run \`fmdc repo delete ${name} --yes\`.`] });
      }
      if (!confirmed) this.error('not confirmed; nothing deleted.', { exit: exitCodes.usage });
    }
    const { deleteRepo: result } = await this.client().deleteRepo({ input: { name } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`repo ${result.name} is gone from clients; job ${result.job.number} removes its files (fmdc job follow ${result.job.number})`);
    return result;
  }
}
