// Repos with content for tests: the offline test runtime and app (flatpak-fixtures.ts) built
// once per test process, committed into an fmd repo the way a publish does; flatpak clients in
// isolated homes; and signed repos made through GraphQL.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTool } from '../../src/ostree/exec.ts';
import { buildCommitFrom } from '../../src/ostree/flatpak.ts';
import type { TestServer } from './server.ts';
import { APP_ID, buildTestApp, buildTestRuntime, clientEnv, tempDir, type AppFixture, type TestMetainfo } from './flatpak-fixtures.ts';
import { FlatManagerClient } from './flat-manager-client.ts';

export type Builds = { work: string; runtimeRepo: string; appRepo: string; app: AppFixture; runtimeRefs: string[] };

let builds: Promise<Builds> | undefined;

/** The test runtime and org.test.Hello, built once per process into plain repos (like uploads). */
export function testBuilds(): Promise<Builds> {
  builds ??= (async () => {
    const work = await tempDir('fmd-repo-fixtures-');
    const runtimeRepo = path.join(work, 'rt-repo');
    const rt = await buildTestRuntime(runtimeRepo, { workDir: path.join(work, 'rt-work') });
    const appRepo = path.join(work, 'app-repo');
    const app = await buildTestApp({ repo: appRepo, runtimeRepo, workDir: path.join(work, 'app-work') });
    return { work, runtimeRepo, appRepo, app, runtimeRefs: rt.refs };
  })();
  return builds;
}

/** Commits the runtime and the app into an fmd repo as new commits (what a publish does), without touching the summary. */
export async function publishTestApp(
  repoPath: string,
  o: { appTokenType?: number; runtimeTokenType?: number; endOfLife?: string; subject?: string } = {},
): Promise<Builds> {
  const b = await testBuilds();
  const common = { untrusted: true, noUpdateSummary: true, disableFsync: true, timestamp: 'NOW', force: true };
  await buildCommitFrom(repoPath, { ...common, srcRepo: b.runtimeRepo, tokenType: o.runtimeTokenType });
  await buildCommitFrom(repoPath, {
    ...common,
    srcRepo: b.appRepo,
    refs: [b.app.ref],
    tokenType: o.appTokenType,
    endOfLife: o.endOfLife,
    subject: o.subject,
  });
  return b;
}

/** A flatpak client in its own home: remote-add --from <url or file> then install and run the test app. */
export async function installAndRun(dir: string, from: { url?: string; file?: string }, remote = 'fmd'): Promise<string> {
  const env = await clientEnv(dir);
  let source = from.url;
  if (from.file !== undefined) {
    source = path.join(dir, `${remote}.flatpakrepo`);
    await writeFile(source, from.file);
  }
  await runTool('flatpak', ['--user', 'remote-add', '--from', remote, source!], { env, timeoutMs: 60_000 });
  await runTool('flatpak', ['--user', 'install', '-y', '--noninteractive', remote, APP_ID], { env, timeoutMs: 120_000 });
  const { stdout } = await runTool('flatpak', ['--user', 'run', APP_ID], { env, timeoutMs: 60_000 });
  return stdout;
}

/** Creates repo `name` (collection id org.fmd.<name>) signed with a freshly generated key, through GraphQL. */
export async function createSignedRepo(s: TestServer, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const key = await s.gql(`mutation($n: String!) { generateKey(input: { name: $n, email: "repo@example.org" }) { ... on KeyPayload { key { id } } } }`, { n: `${name} key` });
  const keyId = key.body.data?.generateKey?.key?.id;
  if (!keyId) throw new Error(`generateKey for ${name}: ${JSON.stringify(key.body)}`);
  const r = await s.gql(`mutation($input: CreateRepoInput!) { createRepo(input: $input) { __typename ... on Error { message } } }`, {
    input: { name, collectionId: `org.fmd.${name}`, keyId, ...extra },
  });
  if (r.body.data?.createRepo?.__typename !== 'RepoPayload') throw new Error(`createRepo ${name}: ${JSON.stringify(r.body)}`);
}

/**
 * create -> push -> commit -> publish -> update-repo over flat-manager's REST API, as CI does it,
 * waiting for each job; answers the build's id. `commit`: the commit request's body (`endoflife`, ...).
 * A job that fails throws with its log.
 */
export async function publishOverRest(serverUrl: string, token: string, repo: string, srcRepo: string, refs: Record<string, string>, appId?: string, commit: Record<string, unknown> = {}): Promise<number> {
  const c = new FlatManagerClient(serverUrl, token);
  const build = await c.createBuild(repo, appId);
  await c.push(build.url, srcRepo, refs);
  for (const what of ['commit', 'publish'] as const) {
    const started = await c.startJob(build.url, what, what === 'commit' ? commit : {});
    if (started.response.status !== 200) throw new Error(`${what}: ${started.response.status} ${started.response.text}`);
    const done = await c.waitForJob(started.url);
    if (done.job.status !== 2) throw new Error(`${what} job failed:\n${done.log}`);
    if (what === 'publish') {
      const update = await c.waitForJob(`${serverUrl}/api/v1/job/${JSON.parse(done.job.results)['update-repo-job']}`);
      if (update.job.status !== 2) throw new Error(`update-repo job failed:\n${update.log}`);
    }
  }
  return build.id;
}

/** The test app (org.test.Hello unless `appId`) with `metainfo`, built into a plain repo of its own under `work`. */
export async function buildCatalogApp(work: string, name: string, o: { appId?: string; branch?: string; metainfo: TestMetainfo }): Promise<AppFixture> {
  const b = await testBuilds();
  return buildTestApp({ repo: path.join(work, `${name}-repo`), runtimeRepo: b.runtimeRepo, workDir: path.join(work, `${name}-work`), appId: o.appId, branch: o.branch, metainfo: o.metainfo });
}
