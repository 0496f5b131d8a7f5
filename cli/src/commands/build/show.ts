import { numberArg } from '../../numbers.ts';
import { FmdCommand, exitCodes } from '../../base-command.ts';
import { buildDetails, jobColumns } from '../../build-output.ts';
import { table } from '../../output.ts';

export default class BuildShow extends FmdCommand<typeof BuildShow> {
  static override description = 'Show a build: its state, source, refs and jobs.';
  static override examples = ['<%= config.bin %> build show 42', '<%= config.bin %> build show 42 --json'];

  static override args = {
    number: numberArg('build number'),
  };

  async run() {
    const { number } = this.args;
    const { build } = await this.client().build({ number });
    if (!build) this.error(`build ${number} not found (or your token may not read it)`, { exit: exitCodes.failed, code: 'not-found', suggestions: ['`fmdc build list` shows the builds you may read.'] });
    this.log(buildDetails(build, this.client().endpoint));
    const jobs = build.jobs.edges.map((e) => e.node);
    if (jobs.length) this.log(`\n${table(jobs, jobColumns)}`);
    return build;
  }
}
