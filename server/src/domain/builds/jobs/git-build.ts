// The git-build job: clone the source at the exact commit, find and read the manifest, check its
// app id against the build's claims, install the runtimes it needs into the builder's flatpak
// installation, run flatpak-builder (--sandbox, in a jail) into the build's upload repo with a
// per-app state dir, record the refs it exported, and hand the build to the ordinary commit
// (and publish) path. Every tool output line goes to the job log as it comes. A cancel, a
// supersede or the timeout kills the tools' process groups; the work dir goes away, except after
// a failure, when it is kept for inspection (GitBuildService.sweepWorkDirs removes it later).
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '../../../generated/prisma/client.ts';
import type { FmdConfig } from '../../../config/index.ts';
import { runTool, ToolError } from '../../../ostree/exec.ts';
import { cloneAt, gitCredentialEnv } from '../../../ostree/git.ts';
import { flatpakBuilder } from '../../../ostree/flatpak-builder.ts';
import * as ostree from '../../../ostree/ostree.ts';
import type { ToolRunOptions } from '../../../ostree/ostree.ts';
import type { JobKindDefinition, JobRun } from '../../jobs/queue.ts';
import { gitBuildingStates } from '../lifecycle.ts';
import type { BuildService } from '../service.ts';
import { stateName } from '../states.ts';
import { lockDir } from '../git/dir-lock.ts';
import { createJail } from '../git/jail.ts';
import { findManifest, readManifest, type ManifestInfo } from '../git/manifest.ts';
import { BuilderInstallation } from '../git/runtimes.ts';
import type { GitBuildService, SourceClaims } from '../git/service.ts';
import { viewerFromClaims } from '../git/service.ts';

export type GitBuildPayload = { build: number };

export type GitBuildJobDeps = { prisma: PrismaClient; config: FmdConfig; builds: BuildService; gitBuilds: GitBuildService };

export function gitBuildJob(deps: GitBuildJobDeps): JobKindDefinition<GitBuildPayload> {
  // A half-done flatpak-builder run is not resumable: requeued after a crash so that the handler
  // fails the build cleanly (it sees attempts > 1), like the commit job.
  return {
    recovery: 'requeue',
    handler: (run) => gitBuild(deps, run),
    // Read when the engine defines the kind (the config is not there before).
    get concurrency() {
      return deps.config.maxBuildsPerWorker;
    },
    // One lane per arch this worker builds: a build's job (queued in its arch's lane) goes only to
    // a worker that builds that arch.
    get lanes() {
      return deps.config.buildArches;
    },
  };
}

/** How often the job looks whether its build was cancelled or superseded from another process. */
const WATCH_MS = 1000;
/** How often output refreshes BuildSource.activeAt (the stall watchdog's clock). */
const ACTIVE_TOUCH_MS = 5000;

/** The build stopped being built (cancelled, superseded, timed out): not a failure of the build. */
class Stopped extends Error {}

async function gitBuild(deps: GitBuildJobDeps, run: JobRun<GitBuildPayload>): Promise<Record<string, unknown>> {
  const { prisma, config, builds, gitBuilds } = deps;
  const id = run.contents.build;
  const build = await builds.forJob(id);
  const source = await prisma.buildSource.findUnique({ where: { buildId: id } });
  if (!source) throw new Error(`build ${id} has no git source`);
  if (run.job.attempts > 1 && gitBuildingStates.includes(build.state)) {
    // At-least-once: a build interrupted by a dead worker fails cleanly instead of running twice.
    const reason = 'the build was interrupted (worker stopped); rebuild it';
    await builds.applyStep(id, { step: 'build-failed', reason });
    await builds.changed(id);
    await gitBuilds.removeWorkDir(id).catch(() => undefined);
    throw new Error(reason);
  }
  if (build.state !== 'WAITING') {
    await run.log(`build ${id} is ${stateName(build.state)}, not waiting: nothing to do`);
    return { skipped: true };
  }
  await gitBuilds.sweepWorkDirs().catch(() => undefined);
  if (!(await builds.applyStep(id, { step: 'clone' }))) {
    await run.log(`build ${id} changed before it started: nothing to do`);
    return { skipped: true };
  }
  await builds.changed(id);

  // One signal for everything that stops the build: the engine's cancel, the build leaving the
  // building states (cancelBuild or a supersede from any process), and the timeout.
  const stop = new AbortController();
  const signal = AbortSignal.any([run.signal, stop.signal]);
  const timeoutSecs = config.buildTimeoutSecs;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop.abort(new Stopped(`timed out after ${timeoutSecs} s`));
  }, timeoutSecs * 1000);
  const watch = setInterval(() => {
    void prisma.build
      .findUnique({ where: { id }, select: { state: true } })
      .then((b) => {
        if (b && !gitBuildingStates.includes(b.state)) stop.abort(new Stopped(`build is ${stateName(b.state)}`));
      })
      .catch(() => undefined);
  }, WATCH_MS);

  let lastActive = 0;
  const pending: Promise<void>[] = [];
  const active = () => {
    if (Date.now() - lastActive < ACTIVE_TOUCH_MS) return;
    lastActive = Date.now();
    pending.push(prisma.buildSource.update({ where: { buildId: id }, data: { activeAt: new Date() } }).then(() => undefined, () => undefined));
  };
  const tools: ToolRunOptions = {
    signal,
    // The build's own timer stops it first (and says so); this is only a backstop.
    timeoutMs: timeoutSecs * 1000 + 60_000,
    onLine: (line) => {
      pending.push(run.log(line));
      active();
    },
  };
  const flush = () => Promise.all(pending.splice(0)).then(() => undefined);
  const say = async (line: string, progress?: number) => {
    await run.log(line);
    active();
    if (progress !== undefined) await run.progress(progress, line);
  };

  const work = gitBuilds.workDir(id);
  const credentialDir = gitBuilds.credentialDir(id);
  const claims = source.claims as unknown as SourceClaims;
  let releaseState: (() => Promise<void>) | undefined;
  try {
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true, mode: 0o700 });
    const checkout = path.join(work, 'checkout');

    // --- clone ---
    // git gets none of fmd's environment (it may hold secrets): a home of its own, no prompts.
    const home = path.join(work, 'git-home');
    await mkdir(home, { recursive: true });
    let gitEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1' };
    if (source.credentialId !== null) {
      if (!gitBuilds.credentials) throw new Error(`git credential ${source.credentialId} cannot be opened by this worker`);
      const secret = await gitBuilds.credentials.open(source.credentialId);
      // Outside the work dir, which a failed build keeps and the jail shows to the build.
      await mkdir(credentialDir, { recursive: true, mode: 0o700 });
      gitEnv = { ...gitEnv, ...(await gitCredentialEnv(secret, credentialDir)) };
    }
    await say(`Cloning ${source.url} at ${source.gitRef}`, 0.05);
    const { commit } = await cloneAt({ url: source.url, ref: source.gitRef, dest: checkout, env: gitEnv, schemes: config.gitUrlSchemes }, tools);
    await prisma.buildSource.update({ where: { buildId: id }, data: { commit } });
    await say(`Checked out commit ${commit}`);
    // The credential is needed for the clone only.
    await rm(credentialDir, { recursive: true, force: true });

    // --- manifest ---
    const manifestPath = await findManifest(checkout, { path: source.manifestPath, appId: build.appId });
    const info = await readManifest(path.join(checkout, manifestPath));
    // What was found stays on the build even when the app id is refused below.
    await prisma.buildSource.update({ where: { buildId: id }, data: { manifestPath } });
    gitBuilds.checkAppId(claims, build.appId, info.appId);
    // flatpak-builder's precedence: the manifest's `branch`, then --default-branch, then its
    // `default-branch`, then master. fmd's --default-branch: the input's, else (unless the manifest
    // has its own default) the repo's.
    const defaultBranch = source.branch ?? info.defaultBranch ?? build.repo.defaultBranch ?? null;
    const branch = info.branch ?? defaultBranch ?? 'master';
    await prisma.buildSource.update({
      where: { buildId: id },
      data: { manifestPath, branch, runtime: `${info.runtime}//${runtimeVersion(info)}`, sdk: `${info.sdk}//${runtimeVersion(info)}` },
    });
    await prisma.build.update({ where: { id }, data: { appId: info.appId } });
    await builds.changed(id);
    await say(`Manifest ${manifestPath}: ${info.appId} on ${info.runtime}, branch ${branch}`, 0.1);

    // --- runtimes ---
    const installation = new BuilderInstallation({ dir: gitBuilds.installationDir(), remotes: await gitBuilds.builderRemotes() });
    await say('Installing the runtimes the manifest needs');
    await installation.ensure(neededRefs(info, source.arch, branch), tools);
    await flush();

    // --- build ---
    if (!(await builds.applyStep(id, { step: 'build' }))) throw new Stopped('the build was stopped before it built');
    await builds.changed(id);
    const stateDir = gitBuilds.stateDir(info.appId, source.arch);
    const lock = await lockDir(stateDir, {
      owner: `build ${id}`,
      signal,
      waiting: (holder) => void say(`Waiting for ${holder}, which uses the build cache of ${info.appId}`),
    });
    releaseState = lock.release;
    const upload = builds.uploadPath(id);
    // Everything the jail binds exists by now (it hands the writable dirs to the jail's user).
    const jail = await createJail({
      workDir: work,
      writable: [stateDir, upload],
      // The installation's runtimes, and the main repo the upload repo names as its parent.
      readOnly: [installation.flatpakDir, gitBuilds.repoPath(build.repo.name)],
      // The rest of the data dir (secret, master-key, the database, other builds) is not there, nor
      // the config file, which may hold the secret and the database URL.
      hidden: [config.dataDir, ...(config.configFile ? [config.configFile] : [])],
    });
    await say(`Building ${info.appId} for ${source.arch}`, 0.2);
    await flatpakBuilder(
      {
        manifest: path.join(checkout, manifestPath),
        buildDir: path.join(work, 'build'),
        repo: upload,
        stateDir,
        arch: source.arch,
        ...(defaultBranch ? { defaultBranch } : {}),
        checkout,
        // ccache (its cache in the app's state dir) when the SDK has it: flatpak-builder needs it there.
        ccache: existsSync(path.join(installation.flatpakDir, 'runtime', info.sdk, source.arch, runtimeVersion(info), 'active', 'files', 'bin', 'ccache')),
        env: installation.env(),
        jail,
      },
      tools,
    );
    await flush();
    await releaseState();
    releaseState = undefined;
    // The jail's user wrote the upload repo: it becomes fmd's own again before the commit reads it.
    // flatpak build-commit-from --untrusted takes ~5x the time (and CPU) on a source repo another
    // user owns: 2,000 files of 40 KB, 1.4-2.0 s as root's against 6.7-7.5 s as fmd-builder's.
    // (Nothing of the build runs any more; --no-dereference: links are changed, not followed.)
    if (jail.owner) {
      await runTool('chown', ['-R', '--no-dereference', `${process.getuid!()}:${process.getgid!()}`, '--', upload], { signal, timeoutMs: tools.timeoutMs });
    }

    // --- refs ---
    const refs = (await ostree.listRefs(upload, undefined, tools)).filter((r) => r.startsWith('app/') || r.startsWith('runtime/'));
    if (refs.length === 0) throw new Error('flatpak-builder exported no refs');
    const viewer = viewerFromClaims(claims);
    for (const ref of refs) {
      builds.validateRef(viewer, ref);
      const c = await ostree.revParse(upload, ref, tools);
      if (!c) throw new Error(`ref ${ref} vanished from the upload repo`);
      await prisma.buildRef.upsert({ where: { buildId_refName: { buildId: id, refName: ref } }, create: { buildId: id, refName: ref, commit: c }, update: { commit: c } });
      await say(`Exported ${ref} (${c})`);
    }
    if (!(await builds.applyStep(id, { step: 'built' }))) throw new Stopped('the build was stopped after it built');
    await builds.changed(id);
    await say('Build done', 0.9);
    // The build is done whatever happens to its commit: a refused auto-commit leaves it for a manual one.
    const commitJob = await gitBuilds.afterBuilt(id).catch(async (err: Error) => {
      await say(`Auto-commit refused: ${err.message}`);
      return null;
    });
    if (commitJob) await say(`Queued commit job ${commitJob.id}`);
    // Removed once the commit is queued, so that the commit runs meanwhile (the checkout and what
    // the build left are as many files as the app: ~1 s for the 5,000-file bench app). A work dir
    // left behind by a failure here is the sweep's (the build is over).
    await gitBuilds.removeWorkDir(id).catch((err: Error) => say(`Failed to remove the work dir: ${err.message}`));
    return { commit, manifest: manifestPath, refs, ...(commitJob ? { 'commit-job': commitJob.id } : {}) };
  } catch (err) {
    await flush();
    const reason = signal.aborted ? stopReason(signal) : err instanceof Stopped ? err.message : null;
    if (reason !== null) {
      // Cancelled, superseded or timed out: the tools are dead (runTool killed their process groups).
      if (timedOut && (await builds.applyStep(id, { step: 'cancel', reason }))) await builds.changed(id);
      // Its job cancelled directly (cancelJob): the build is cancelled with it. (A worker that is
      // shutting down aborts with another reason: the build is then left to the job's recovery.)
      const jobCancelled = run.signal.aborted && (run.signal.reason as Error | undefined)?.message === 'cancelled';
      if (jobCancelled && (await builds.applyStep(id, { step: 'cancel', reason: `its job ${run.job.id} was cancelled` }))) await builds.changed(id);
      await gitBuilds.removeWorkDir(id).catch(() => undefined);
      await run.log(`Build stopped: ${reason}`);
      if (run.signal.aborted) throw err;
      return { stopped: reason };
    }
    const failure = failureReason(err);
    await run.log(`Build failed: ${failure}`);
    await builds.applyStep(id, { step: 'build-failed', reason: failure });
    await builds.changed(id);
    await gitBuilds.keepFailedWorkDir(id).catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
    clearInterval(watch);
    await rm(credentialDir, { recursive: true, force: true }).catch(() => undefined);
    await releaseState?.().catch(() => undefined);
    await flush();
  }
}

/** flatpak-builder's default runtime-version. */
const runtimeVersion = (info: ManifestInfo) => info.runtimeVersion ?? 'master';

/** The runtime, SDK, SDK extensions and base app a manifest builds on. */
export function neededRefs(info: ManifestInfo, arch: string, branch: string): Array<{ id: string; version: string; arch: string }> {
  const version = runtimeVersion(info);
  const refs = [
    { id: info.runtime, version, arch },
    { id: info.sdk, version, arch },
    ...info.sdkExtensions.map((ext: string) => ({ id: ext, version, arch })),
  ];
  // base-version defaults to the app's branch (flatpak-manifest(5)).
  if (info.base) refs.push({ id: info.base, version: info.baseVersion ?? branch, arch });
  return refs;
}

function stopReason(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  return r instanceof Error ? r.message : 'cancelled';
}

/** The failure as a build's reason: the tool's last error lines (what the log shows last), else the message. */
function failureReason(err: unknown): string {
  if (err instanceof ToolError) {
    const lines = err.stderrTail.split('\n').filter((l) => l.trim());
    const tail = lines.slice(-5).join('\n');
    return `${err.command} ${err.reason === 'exit' ? `exited with code ${err.code ?? err.signal}` : err.reason}${tail ? `: ${tail}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
