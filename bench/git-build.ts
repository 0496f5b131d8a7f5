// Git build overhead: wall time of an fmd git build of the ~5,000-file bench app (FILES=5000 x
// FILE_KB=40, ~200 MB) from a local git repo (file:// URL) holding a flatpak-builder manifest on
// the offline test runtime (busybox org.test.Platform/Sdk), against the same commands run by hand,
// in one run:
//   git clone --depth 1 (with submodules), flatpak-builder --sandbox (fmd's flags) into a fresh
//   repo, flatpak build-commit-from into a main repo, flatpak build-update-repo of the main repo.
// Static deltas are off on both sides (the fmd repo is created without them): the from-scratch
// delta of this app took ~3 min here, three quarters of the total, and hid the rest; it is
// publish-overhead.ts's subject. DELTAS=1 turns them on on both sides.
// fmd: createBuild with a `git` input (autoCommit + autoPublish) through GraphQL, timed from the
// request to the end of the update-repo job after the publish, as a client polling the build every
// POLL_MS=100 ms sees it. fmd also runs its commit step (build-commit-from --untrusted into the
// build repo, whose parent is the main repo, and build-update-repo of it, for checks and
// appstream): a second by-hand figure includes those two commands, as publish-overhead.ts does.
// flat-manager makes the same untrusted commit: that second figure is the reference for fmd. (The
// by-hand upload repo is root's; fmd's jail writes its own as fmd-builder, and gives it back to
// fmd's user before the commit: build-commit-from --untrusted runs ~5x longer on a source repo
// another user owns.)
// Its first build also installs the runtime and SDK into fmd's builder installation: the same
// install by hand is timed apart, and a third overhead figure counts it.
// fmd's phases are the build states as the polling client first saw them (CLONING covers the
// clone, reading the manifest and installing or updating the runtime; BUILDING is flatpak-builder
// in its jail; UPLOADING to READY is the commit job) and each job's wait and run time.
// Wall time only, which other work on a shared machine moves by tens of percent from one build
// to the next: compare a few runs. (CPU seconds cannot be compared here: what runs in fmd's build
// jail never shows in its parent's reaped-children times; checked with a busy loop.)
// Then a cached rebuild of the same commit on both sides: flatpak-builder finds every module in
// its state dir (fmd keeps one per app and arch) and only exports; the cache only applies when the
// manifest is at the same absolute path (flatpak-builder 1.2 names its cache branch after it), so
// the by-hand rebuild clones into the same directory again.
// The app's files are in the git repo and reach /app through a `git` source with `path: .` (the
// checkout itself), copied by build-commands (busybox has no `install`); a `dir` source would
// defeat the cache (flatpak-builder checksums it as random).
// TRACE=<file> writes every job log line of fmd's builds to <file>, stamped with when the polling
// client first saw it (the client then reads the logs on each poll, which costs fmd a little): the
// steps inside the jobs (clone, runtime install, flatpak-builder's stages, commit-from, summary...).
// Run from the repo root: npm exec -- node bench/git-build.ts
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTool } from '../server/src/ostree/exec.ts';
import { buildTestRuntime, clientEnv, defaultArch, installTestRuntime, PLATFORM_ID, RUNTIME_BRANCH, SDK_ID } from '../server/test/kit/flatpak-fixtures.ts';
import { startFmd } from './support/fmd-process.ts';
import { gql, timed, writeAppFiles } from './support/gen-app.ts';

const pollMs = Number(process.env.POLL_MS ?? 100);
const deltas = process.env.DELTAS === '1';
// TRACE=<file>: every job log line of fmd's builds, stamped with when the polling client first saw it.
const trace = process.env.TRACE;
const APP_ID = 'org.bench.GitApp';
const BRANCH = 'stable';
const MANIFEST = `${APP_ID}.json`;
const GIT_BRANCH = 'main';
const long = { timeoutMs: 1_800_000 };

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const pct = (ms: number, ref: number) => `${(((ms - ref) / ref) * 100).toFixed(1)}%`;
const each = (p: Record<string, number>) => Object.entries(p).map(([k, ms]) => `${k} ${s(ms)}`).join(', ');
const sum = (p: Record<string, number>, keys: string[]) => keys.reduce((t, k) => t + (p[k] ?? 0), 0);

/** The git repo the builds clone: the app's files under payload/ and the manifest at the root. */
async function makeSourceRepo(root: string): Promise<{ url: string; commit: string; files: number }> {
  const { files } = writeAppFiles(path.join(root, 'payload'));
  const manifest = {
    'app-id': APP_ID,
    runtime: PLATFORM_ID,
    'runtime-version': RUNTIME_BRANCH,
    sdk: SDK_ID,
    command: 'bench',
    modules: [
      {
        name: 'bench',
        buildsystem: 'simple',
        'build-commands': ['mkdir -p /app/bin /app/share', 'cp -r payload /app/share/bench', 'cp bench.sh /app/bin/bench', 'chmod 755 /app/bin/bench'],
        sources: [
          // `HEAD`: the checkout may be on a branch or at a detached commit.
          { type: 'git', path: '.', branch: 'HEAD' },
          { type: 'script', 'dest-filename': 'bench.sh', commands: ['ls -R /app/share/bench | wc -l'] },
        ],
      },
    ],
  };
  writeFileSync(path.join(root, MANIFEST), JSON.stringify(manifest, null, 2));
  // No background `gc --auto` (it may start after the commit, and a clone made while the objects are
  // still loose costs ~7x one made from a pack: measured 46 s against 7 s): the repo is packed once
  // here, as a forge's repos are.
  const git = (args: string[]) => runTool('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', '-c', 'commit.gpgsign=false', '-c', 'gc.auto=0', ...args], { cwd: root, ...long });
  await git(['init', '-q', '-b', GIT_BRANCH]);
  await git(['add', '-A']);
  await git(['commit', '-q', '-m', 'bench app']);
  await git(['repack', '-a', '-d', '-q']);
  const commit = (await git(['rev-parse', 'HEAD'])).stdout.trim();
  return { url: `file://${root}`, commit, files };
}

type HandSetup = { url: string; arch: string; env: NodeJS.ProcessEnv; work: string; main: string };

/** One build by hand; `hand.work/checkout` and the state dir are the same across calls, as fmd's per-app state dir is. */
async function byHand(h: HandSetup, n: number) {
  const checkout = path.join(h.work, 'checkout');
  const upload = path.join(h.work, `upload-${n}`);
  const buildRepo = path.join(h.work, `build-${n}`);
  const phases: Record<string, number> = {};
  rmSync(checkout, { recursive: true, force: true });
  phases.clone = (await timed(() => runTool('git', ['clone', '-q', '--depth=1', '--recurse-submodules', '--shallow-submodules', `--branch=${GIT_BRANCH}`, '--', h.url, checkout], long))).ms;
  const built = await timed(() =>
    runTool(
      'flatpak-builder',
      // fmd's flags (server/src/ostree/flatpak-builder.ts).
      ['--sandbox', '--disable-rofiles-fuse', '--force-clean', '--delete-build-dirs', `--arch=${h.arch}`, `--state-dir=${path.join(h.work, 'state')}`, `--repo=${upload}`, `--default-branch=${BRANCH}`, '--', path.join(h.work, 'builddir'), path.join(checkout, MANIFEST)],
      { cwd: checkout, env: h.env, ...long },
    ),
  );
  phases.build = built.ms;
  const cacheHits = (built.value.stdout.match(/^Cache hit for /gm) ?? []).length;
  const ref = `app/${APP_ID}/${h.arch}/${BRANCH}`;
  // fmd's commit step (a separate figure): into a build repo whose parent is the main repo.
  await runTool('ostree', ['init', `--repo=${buildRepo}`, '--mode=archive-z2']);
  await runTool('ostree', ['config', `--repo=${buildRepo}`, 'set', 'core.parent', h.main]);
  phases['commit step'] = (
    await timed(async () => {
      await runTool('flatpak', ['build-commit-from', `--src-repo=${upload}`, '--timestamp=NOW', '--no-update-summary', '--untrusted', '--force', '--disable-fsync', buildRepo, ref], long);
      await runTool('flatpak', ['build-update-repo', '--no-update-summary', buildRepo], long);
    })
  ).ms;
  phases['commit-from'] = (await timed(() => runTool('flatpak', ['build-commit-from', `--src-repo=${upload}`, '--force', '--no-update-summary', h.main, ref], long))).ms;
  phases['update-repo'] = (await timed(() => runTool('flatpak', ['build-update-repo', ...(deltas ? ['--generate-static-deltas'] : []), h.main], long))).ms;
  const four = sum(phases, ['clone', 'build', 'commit-from', 'update-repo']);
  return { phases, four, withCommit: four + phases['commit step']!, cacheHits };
}

const traceLines: string[] = [];
type JobRow = { number: number; kind: string; status: string; error: string | null; createdAt: string; startAfter: string | null; startedAt: string | null; finishedAt: string | null; results: any };
const JOB_FIELDS = 'number kind status error createdAt startAfter startedAt finishedAt results';

/** One fmd git build, from the createBuild request to the end of the update-repo job after its publish. */
async function byFmd(fmd: { url: string; token: string }, url: string) {
  const q = (query: string, variables?: Record<string, unknown>) => gql(fmd.url, fmd.token, query, variables);
  const t0 = performance.now();
  const { createBuild } = await q(
    `mutation($input: CreateBuildInput!) { createBuild(input: $input) { __typename ... on BuildPayload { build { number } } ... on Error { message } } }`,
    { input: { repo: 'bench', appId: APP_ID, git: { url, ref: GIT_BRANCH, manifestPath: MANIFEST, branch: BRANCH, autoCommit: true, autoPublish: true } } },
  );
  if (createBuild.__typename !== 'BuildPayload') throw new Error(`createBuild: ${createBuild.__typename}: ${createBuild.message}`);
  const number: number = createBuild.build.number;
  // When the client first saw each state: the build's own phases.
  const timeline: Array<[string, number]> = [];
  const traced = new Map<number, number>();
  let jobs: JobRow[] = [];
  let updateRepo: JobRow | undefined;
  for (;;) {
    const { build } = await q(`query($n: Int!) { build(number: $n) { state stateReason publishedState jobs(first: 20) { edges { node { ${JOB_FIELDS}${trace ? ' log { text }' : ''} } } } } }`, { n: number });
    const at = performance.now() - t0;
    if (trace) {
      for (const { node } of build.jobs.edges as Array<{ node: JobRow & { log: { text: string } } }>) {
        const lines = node.log.text.split('\n').slice(0, -1);
        const seen = traced.get(node.number) ?? 0;
        for (const l of lines.slice(seen)) traceLines.push(`${s(at).padStart(9)} build ${number} ${node.kind}: ${l}`);
        traced.set(node.number, lines.length);
      }
    }
    const seen = `${build.state}${build.publishedState === 'UNPUBLISHED' ? '' : `/${build.publishedState}`}`;
    if (timeline.at(-1)?.[0] !== seen) timeline.push([seen, at]);
    jobs = build.jobs.edges.map((e: { node: JobRow }) => e.node);
    const broken = jobs.find((j) => j.status === 'BROKEN');
    if (['FAILED', 'CANCELLED', 'SUPERSEDED', 'PURGED'].includes(build.state) || build.publishedState === 'FAILED' || broken) {
      throw new Error(`build ${number} ${build.state}/${build.publishedState}: ${build.stateReason ?? broken?.error ?? ''}`);
    }
    const publish = jobs.find((j) => j.kind === 'publish' && j.status === 'ENDED');
    const updateNumber = publish?.results?.['update-repo-job'];
    if (build.publishedState === 'PUBLISHED' && updateNumber !== undefined) {
      const { job } = await q(`query($n: Int!) { job(number: $n) { ${JOB_FIELDS} } }`, { n: updateNumber });
      if (job.status === 'BROKEN') throw new Error(`update-repo job ${updateNumber}: ${job.error}`);
      if (job.status === 'ENDED') {
        updateRepo = job;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  const total = performance.now() - t0;
  timeline.push(['update-repo job ended', total]);
  const all = [...jobs, updateRepo!].sort((a, b) => a.number - b.number);
  const gitJob = all.find((j) => j.kind === 'git-build');
  let cacheHits = 0;
  if (gitJob) {
    const { job } = await q(`query($n: Int!) { job(number: $n) { log { text } } }`, { n: gitJob.number });
    cacheHits = (job.log.text.match(/^Cache hit for /gm) ?? []).length;
  }
  return { number, total, timeline, jobs: all, cacheHits };
}

function printFmd(label: string, r: Awaited<ReturnType<typeof byFmd>>) {
  console.log(`${`${label}:`.padEnd(46)}${s(r.total)}  (build ${r.number})`);
  console.log(`  states as seen: ${r.timeline.map(([k, ms], i) => `${k} ${i ? `+${s(ms - r.timeline[i - 1]![1])}` : s(ms)}`).join(', ')}`);
  for (const j of r.jobs) {
    const t = (k: 'createdAt' | 'startAfter' | 'startedAt' | 'finishedAt') => (j[k] ? Date.parse(j[k]!) : Number.NaN);
    const queued = Math.max(t('createdAt'), Number.isNaN(t('startAfter')) ? 0 : t('startAfter'));
    console.log(`  ${`${j.kind} job`.padEnd(16)} waited ${s(t('startedAt') - queued)}, ran ${s(t('finishedAt') - t('startedAt'))}`);
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-git-'));
// fmd may clone and build as an unprivileged user: the source and runtime repos must be readable.
chmodSync(dir, 0o755);
let fmd: Awaited<ReturnType<typeof startFmd>> | undefined;
try {
  const arch = await defaultArch();
  const runtimeRepo = path.join(dir, 'runtime-repo');
  await buildTestRuntime(runtimeRepo, { workDir: path.join(dir, 'runtime-work') });
  const gen = await timed(() => makeSourceRepo(path.join(dir, 'src')));
  const { url, commit, files } = gen.value;
  console.log(`app: ${files} files in a packed git repo (commit ${commit.slice(0, 12)}), made in ${s(gen.ms)}; static deltas ${deltas ? 'on' : 'off'}`);

  // By hand: a builder installation with the runtime, a main repo.
  const work = path.join(dir, 'hand');
  mkdirSync(work);
  const env = await clientEnv(path.join(work, 'env'));
  const install = await timed(() => installTestRuntime(env, runtimeRepo));
  const main = path.join(work, 'main');
  await runTool('ostree', ['init', `--repo=${main}`, '--mode=archive-z2', '--collection-id=org.bench.Hand']);
  const hand: HandSetup = { url, arch, env, work, main };

  const config = path.join(dir, 'fmd.yaml');
  writeFileSync(config, `builder-remotes:\n  - name: bench-runtime\n    url: ${JSON.stringify(`file://${runtimeRepo}`)}\n`);
  fmd = await startFmd({ FMD_CONFIG: config, FMD_GIT_URL_SCHEMES: 'file', FMD_JOB_WORKERS: '2', FMD_JOB_POLL_MS: '200', FMD_DELAY_UPDATE_SECS: '0' });
  await gql(fmd.url, fmd.token, `mutation($d: JSON!) { createRepo(input: { name: "bench", collectionId: "org.bench.Repo", deltaSettings: $d }) { __typename } }`, { d: { generate: deltas } });

  // First builds, then the cached rebuilds, each pair back to back so both sides see about the same
  // load; the order turns (hand, fmd, fmd, hand).
  const hand1 = await byHand(hand, 1);
  const fmd1 = await byFmd(fmd, url);
  const fmd2 = await byFmd(fmd, url);
  const hand2 = await byHand(hand, 2);

  console.log(`\nfirst build`);
  console.log(`by hand, runtime + SDK install (once):        ${s(install.ms)}`);
  console.log(`by hand, 4 commands:                          ${s(hand1.four)}  (${each(hand1.phases)})`);
  console.log(`by hand, 4 commands + fmd's commit step:      ${s(hand1.withCommit)}`);
  printFmd('fmd, createBuild -> update-repo job ended', fmd1);
  console.log(`fmd overhead vs the 4 commands:                        ${pct(fmd1.total, hand1.four)}  (target <= 20%)`);
  console.log(`fmd overhead vs the 4 commands + commit step:          ${pct(fmd1.total, hand1.withCommit)}`);
  console.log(`fmd overhead vs the 4 commands + commit step + install: ${pct(fmd1.total, hand1.withCommit + install.ms)}`);

  console.log(`\ncached rebuild (same commit)`);
  console.log(`by hand, 4 commands:                          ${s(hand2.four)}  (${each(hand2.phases)})`);
  console.log(`by hand, 4 commands + fmd's commit step:      ${s(hand2.withCommit)}`);
  printFmd('fmd, createBuild -> update-repo job ended', fmd2);
  const hits = (n: number) => `${n} "Cache hit" line(s)${n ? '' : ' -- the builder cache was NOT reused'}`;
  console.log(`flatpak-builder's output: by hand ${hits(hand2.cacheHits)}; fmd's job log ${hits(fmd2.cacheHits)}`);
  console.log(`fmd overhead vs the 4 commands:                        ${pct(fmd2.total, hand2.four)}`);
  console.log(`fmd overhead vs the 4 commands + commit step:          ${pct(fmd2.total, hand2.withCommit)}`);
  console.log(`rebuild vs first build: by hand ${s(hand2.four)} vs ${s(hand1.four)} (${pct(hand2.four, hand1.four)}), fmd ${s(fmd2.total)} vs ${s(fmd1.total)} (${pct(fmd2.total, fmd1.total)})`);
} finally {
  if (trace) writeFileSync(trace, traceLines.join('\n') + '\n');
  await fmd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
