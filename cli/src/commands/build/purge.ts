import { isErrorResult } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { buildStatus } from '../../build-output.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildPurge extends FmdCommand<typeof BuildPurge> {
  static override description = "Purge a build: its upload repo and files go (what it published stays). Not while it is committing or publishing, nor a git build that is still building (cancel that).";
  static override examples = ['<%= config.bin %> build purge 42'];

  static override args = {
    number: numberArg('build number'),
  };

  async run() {
    const { number } = this.args;
    const { purgeBuild: result } = await this.client().purgeBuild({ input: { build: number } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`build ${number}: ${buildStatus(result.build)}`);
    return result;
  }
}
