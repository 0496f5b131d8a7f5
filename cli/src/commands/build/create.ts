import { Flags } from '@oclif/core';
import { isErrorResult } from '@fmd/sdk';
import { exitCodes } from '../../base-command.ts';
import { buildStatus, buildUrl } from '../../build-output.ts';
import { FollowCommand, followExitHelp } from '../../follow-command.ts';

export default class BuildCreate extends FollowCommand<typeof BuildCreate> {
  static override summary = 'Create a build: with --git, one fmd builds itself from a git repository holding a flatpak-builder manifest (then commits it, and publishes it when asked or when the repo\'s policy says so); without, an empty build to upload to with `fmdc push`.';
  static override description = followExitHelp;

  static override examples = [
    '<%= config.bin %> build create --repo stable --git https://git.example.org/app.git --ref v1.2 --follow',
    '<%= config.bin %> build create --repo beta --git https://git.example.org/app.git --manifest build-aux/org.example.App.yml --auto-publish',
    '<%= config.bin %> build create --repo stable --git ssh://git@git.example.org/app.git --credential 3 --depends-on 41',
    '<%= config.bin %> build create --repo stable --app-id org.example.App    # for upload: prints the URL for fmdc push',
  ];

  static override flags = {
    repo: Flags.string({ description: 'the repo the build goes into', required: true }),
    'app-id': Flags.string({ description: 'the app the build is for; must match your token prefixes (git: default what the manifest says)' }),
    git: Flags.string({ description: 'build from this git URL (its scheme must be one the server allows)' }),
    ref: Flags.string({ description: 'branch, tag or 40-hex commit [default: the remote\'s default branch]', dependsOn: ['git'] }),
    manifest: Flags.string({ description: 'manifest path in the checkout [default: <app-id>.yml|yaml|json at the root, else the only manifest]', dependsOn: ['git'] }),
    arch: Flags.string({ description: "arch to build for [default: the server's first build arch]", dependsOn: ['git'] }),
    branch: Flags.string({ description: "flatpak branch when the manifest names none [default: the repo's default branch]", dependsOn: ['git'] }),
    'auto-commit': Flags.boolean({ description: 'commit the build once built [default: true]', allowNo: true, dependsOn: ['git'] }),
    'auto-publish': Flags.boolean({ description: "publish it once committed (needs the publish scope); --no-auto-publish opts out of the repo's policy [default: the repo's policy]", allowNo: true, dependsOn: ['git'] }),
    credential: Flags.integer({ description: 'clone with this git credential of the repo (its number)', min: 1, dependsOn: ['git'] }),
    'depends-on': Flags.integer({ description: 'build number this one waits for (repeatable)', multiple: true, min: 1, dependsOn: ['git'] }),
    'public-download': Flags.boolean({ description: 'serve the build repo without a token [default: yes without --app-id]', allowNo: true }),
    'build-log-url': Flags.string({ description: 'a URL of the log of the build that made the upload' }),
    // No default: oclif counts a default as given, and --follow needs --git.
    follow: Flags.boolean({ char: 'f', description: 'follow the build live until it is over (published, committed, or failed)', dependsOn: ['git'] }),
  };

  async run() {
    const f = this.flags;
    if (f['auto-publish'] && f['auto-commit'] === false) {
      this.error('--auto-publish needs the build committed: drop --no-auto-commit.', { exit: exitCodes.usage });
    }
    const git = f.git
      ? {
          url: f.git,
          ...(f.ref !== undefined && { ref: f.ref }),
          ...(f.manifest !== undefined && { manifestPath: f.manifest }),
          ...(f.arch !== undefined && { arch: f.arch }),
          ...(f.branch !== undefined && { branch: f.branch }),
          ...(f['auto-commit'] !== undefined && { autoCommit: f['auto-commit'] }),
          ...(f['auto-publish'] !== undefined && { autoPublish: f['auto-publish'] }),
          ...(f.credential !== undefined && { credential: f.credential }),
          ...(f['depends-on'] && { dependsOn: f['depends-on'] }),
        }
      : undefined;
    const { createBuild: result } = await this.client().createBuild({
      input: {
        repo: f.repo,
        ...(f['app-id'] !== undefined && { appId: f['app-id'] }),
        ...(git && { git }),
        ...(f['public-download'] !== undefined && { publicDownload: f['public-download'] }),
        ...(f['build-log-url'] !== undefined && { buildLogUrl: f['build-log-url'] }),
      },
    });
    if (isErrorResult(result)) this.failWith(result);
    const { build } = result;
    const url = buildUrl(this.client().endpoint, build.number);
    if (!git) {
      this.log(`created build ${build.number} in ${build.repo.name} for upload`);
      this.log(`url: ${url}`);
      this.log(`push to it with: ${this.config.bin} push ${url} <local-repo> --commit --publish`);
      return { build, url };
    }
    this.logToStderr(`created git build ${build.number} in ${build.repo.name} (${buildStatus(build)})`);
    if (!f.follow) {
      this.log(`build ${build.number}: ${buildStatus(build)}; follow it with \`${this.config.bin} build logs ${build.number} --follow\``);
      return { build, url };
    }
    const followed = await this.followBuildLive(build.number);
    return { build: followed.build, url, reached: followed.reached };
  }
}
