import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';
import { buildStatus } from '../../build-output.ts';
import { numberArg } from '../../numbers.ts';

export default class BuildRebuild extends FollowCommand<typeof BuildRebuild> {
  static override summary = 'Build a git build again: a new build of the same source commit, manifest, arch and options.';
  static override description = followExitHelp;

  static override examples = ['<%= config.bin %> build rebuild 42', '<%= config.bin %> build rebuild 42 --follow'];

  static override args = {
    number: numberArg('the git build to build again'),
  };

  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'follow the new build live until it is over', default: false }),
  };

  async run() {
    const { number } = this.args;
    const { rebuildBuild: result } = await this.client().rebuildBuild({ input: { build: number } });
    if (isErrorResult(result)) this.failWith(result);
    const { build } = result;
    this.logToStderr(`build ${build.number} rebuilds build ${number} (${buildStatus(build)})`);
    if (!this.flags.follow) {
      this.log(`build ${build.number}: ${buildStatus(build)}; follow it with \`${this.config.bin} build logs ${build.number} --follow\``);
      return result;
    }
    const r = await this.followBuildLive(build.number);
    return { build: r.build, reached: r.reached };
  }
}
