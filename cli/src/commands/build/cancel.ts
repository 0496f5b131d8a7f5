import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FmdCommand } from '../../base-command.ts';
import { buildStatus } from '../../build-output.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildCancel extends FmdCommand<typeof BuildCancel> {
  static override description = 'Stop a git build that is waiting, cloning or building: its tools are killed and it ends cancelled. (An uploaded build is purged instead.)';
  static override examples = ['<%= config.bin %> build cancel 42', '<%= config.bin %> build cancel 42 --reason "wrong tag"'];

  static override args = {
    number: numberArg('build number'),
  };

  static override flags = {
    reason: Flags.string({ description: "why; recorded as the build's reason" }),
  };

  async run() {
    const { number } = this.args;
    const { reason } = this.flags;
    const { cancelBuild: result } = await this.client().cancelBuild({ input: { build: number, ...(reason !== undefined && { reason }) } });
    if (isErrorResult(result)) this.failWith(result);
    this.log(`build ${number}: ${buildStatus(result.build)}${result.build.stateReason ? ` (${result.build.stateReason})` : ''}`);
    return result;
  }
}
