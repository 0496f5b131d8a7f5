// Offline Flatpak fixtures for tests: a busybox-based runtime
// (org.test.Platform / org.test.Sdk, branch 1) and a trivial app built with
// flatpak-builder. No network: busybox comes from `apt-get download
// busybox-static` (cached), or from an installed /bin/busybox as a fallback.
// Each flatpak client or builder gets its own HOME/XDG dirs (clientEnv).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runTool } from '../../src/ostree/exec.ts';
import { buildExport, buildUpdateRepo, flatpakBuilder, isolatedEnv } from '../../src/ostree/flatpak.ts';
import * as ostree from '../../src/ostree/ostree.ts';

export const PLATFORM_ID = 'org.test.Platform';
export const SDK_ID = 'org.test.Sdk';
export const RUNTIME_BRANCH = '1';

/** A flatpak-builder manifest of an app on the offline test runtime, running `hello`, made of `modules`. */
export function testAppManifest(appId: string, modules: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { 'app-id': appId, runtime: PLATFORM_ID, 'runtime-version': RUNTIME_BRANCH, sdk: SDK_ID, command: 'hello', ...extra, modules };
}
export const APP_ID = 'org.test.Hello';

/** Shared across test files so the .deb is fetched once per machine, not once per test. */
export const DEFAULT_CACHE_DIR = path.join(tmpdir(), 'fmd-test-cache');

let archPromise: Promise<string> | undefined;
export function defaultArch(): Promise<string> {
  archPromise ??= runTool('flatpak', ['--default-arch']).then((r) => r.stdout.trim());
  return archPromise;
}

export async function tempDir(prefix = 'fmd-test-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** An isolated HOME/XDG env for one flatpak client or builder, with its directories created. */
export async function clientEnv(root: string): Promise<NodeJS.ProcessEnv> {
  const env = isolatedEnv(root);
  for (const k of ['HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_STATE_HOME'] as const) {
    await mkdir(env[k]!, { recursive: true });
  }
  return env;
}

/** Path to a static busybox binary, downloaded and unpacked once into the cache dir. */
export async function busyboxBinary(cacheDir = DEFAULT_CACHE_DIR): Promise<string> {
  const unpacked = path.join(cacheDir, 'busybox-static', 'bin', 'busybox');
  if (existsSync(unpacked)) return unpacked;
  await mkdir(cacheDir, { recursive: true });
  let deb = (await readdir(cacheDir)).find((f) => f.startsWith('busybox-static_') && f.endsWith('.deb'));
  if (!deb) {
    try {
      // As root apt warns that the download is unsandboxed; that is harmless here.
      await runTool('apt-get', ['download', 'busybox-static'], { cwd: cacheDir, timeoutMs: 120_000 });
      deb = (await readdir(cacheDir)).find((f) => f.startsWith('busybox-static_') && f.endsWith('.deb'));
    } catch (err) {
      if (!existsSync('/bin/busybox')) throw err;
    }
  }
  const target = path.join(cacheDir, 'busybox-static');
  if (deb) {
    await runTool('dpkg-deb', ['-x', path.join(cacheDir, deb), target]);
  } else {
    // Offline and no apt cache: the installed busybox-static package has the same binary.
    await mkdir(path.dirname(unpacked), { recursive: true });
    await copyFile('/bin/busybox', unpacked);
    await chmod(unpacked, 0o755);
  }
  return unpacked;
}

async function makeBusyboxTree(dir: string, busybox: string, id: string, arch: string): Promise<void> {
  const bin = path.join(dir, 'files', 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile(busybox, path.join(bin, 'busybox'));
  await chmod(path.join(bin, 'busybox'), 0o755);
  const { stdout } = await runTool(busybox, ['--list']);
  for (const applet of stdout.split('\n').map((s) => s.trim())) {
    if (!applet || applet === 'busybox') continue;
    await symlink('busybox', path.join(bin, applet));
  }
  // Runtime metadata: `[Runtime]` makes build-export produce a runtime/ ref.
  await writeFile(
    path.join(dir, 'metadata'),
    `[Runtime]\nname=${id}\nruntime=${PLATFORM_ID}/${arch}/${RUNTIME_BRANCH}\nsdk=${SDK_ID}/${arch}/${RUNTIME_BRANCH}\n`,
  );
}

export interface RuntimeFixture {
  repo: string;
  arch: string;
  refs: string[];
}

/**
 * Exports org.test.Platform and org.test.Sdk (branch 1) into `repo`, creating
 * it as archive-z2 if missing, then updates its summary (so clients and
 * flatpak-builder can install from it) unless `updateSummary: false`.
 */
export async function buildTestRuntime(
  repo: string,
  o: { workDir?: string; cacheDir?: string; collectionId?: string; updateSummary?: boolean } = {},
): Promise<RuntimeFixture> {
  const arch = await defaultArch();
  const work = o.workDir ?? (await tempDir('fmd-rt-'));
  const busybox = await busyboxBinary(o.cacheDir);
  if (!existsSync(path.join(repo, 'config'))) await ostree.init(repo, { mode: 'archive-z2', collectionId: o.collectionId });
  const refs: string[] = [];
  for (const id of [PLATFORM_ID, SDK_ID]) {
    const dir = path.join(work, 'rt', id);
    await rm(dir, { recursive: true, force: true });
    await makeBusyboxTree(dir, busybox, id, arch);
    // Without --files=files build-export looks for usr/.
    await buildExport(repo, dir, RUNTIME_BRANCH, { files: 'files', noUpdateSummary: true, collectionId: o.collectionId });
    refs.push(`runtime/${id}/${arch}/${RUNTIME_BRANCH}`);
  }
  if (o.updateSummary !== false) await buildUpdateRepo(repo, { noUpdateAppstream: true });
  return { repo, arch, refs };
}

/** Installs the test runtime and Sdk from `runtimeRepo` into the user installation of `env`. */
export async function installTestRuntime(env: NodeJS.ProcessEnv, runtimeRepo: string, remote = 'fmd-test-runtime') {
  await runTool('flatpak', ['--user', 'remote-add', '--if-not-exists', '--no-gpg-verify', remote, runtimeRepo], { env });
  await runTool(
    'flatpak',
    ['--user', 'install', '-y', '--noninteractive', remote, `${PLATFORM_ID}//${RUNTIME_BRANCH}`, `${SDK_ID}//${RUNTIME_BRANCH}`],
    { env, timeoutMs: 120_000 },
  );
}

export interface AppFixture {
  repo: string;
  ref: string;
  commit: string;
  /** What `flatpak run org.test.Hello` prints. */
  message: string;
}

/**
 * Builds org.test.Hello (a shell script printing `message`) with flatpak-builder
 * into `repo` on `branch`. `runtimeRepo` must hold the test runtime; it is
 * installed into the builder's own isolated user installation under workDir.
 */
export async function buildTestApp(o: {
  repo: string;
  runtimeRepo: string;
  branch?: string;
  message?: string;
  workDir?: string;
  appId?: string;
}): Promise<AppFixture> {
  const arch = await defaultArch();
  const branch = o.branch ?? 'stable';
  const appId = o.appId ?? APP_ID;
  const message = o.message ?? `Hello from ${appId} ${branch}`;
  const work = o.workDir ?? (await tempDir('fmd-app-'));
  const isolatedRoot = path.join(work, 'builder-env');
  const env = await clientEnv(isolatedRoot);
  await installTestRuntime(env, o.runtimeRepo);
  if (/["\\$`]/.test(message)) throw new Error('keep the test message free of shell metacharacters');
  const manifest = {
    'app-id': appId,
    runtime: PLATFORM_ID,
    'runtime-version': RUNTIME_BRANCH,
    sdk: SDK_ID,
    command: 'hello',
    modules: [
      {
        name: 'hello',
        buildsystem: 'simple',
        // Busybox has no `install` applet. The appstream data is what appstream-compose would
        // leave, so `flatpak build-update-repo` puts the app into the appstream branch.
        'build-commands': [
          'mkdir -p /app/bin /app/share/app-info/xmls',
          'cp hello.sh /app/bin/hello',
          'chmod 755 /app/bin/hello',
          `gzip -c appdata.xml > /app/share/app-info/xmls/${appId}.xml.gz`,
        ],
        sources: [
          { type: 'script', 'dest-filename': 'hello.sh', commands: [`echo "${message}"`] },
          {
            type: 'inline',
            'dest-filename': 'appdata.xml',
            contents: `<?xml version="1.0" encoding="UTF-8"?>\n<components version="0.8" origin="flatpak"><component type="desktop-application"><id>${appId}</id><name>Hello</name><summary>fmd test app</summary><bundle type="flatpak">app/${appId}/${arch}/${branch}</bundle></component></components>\n`,
          },
        ],
      },
    ],
  };
  const manifestPath = path.join(work, `${appId}.json`);
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  await flatpakBuilder(
    {
      builddir: path.join(work, 'build'),
      manifest: manifestPath,
      repo: o.repo,
      defaultBranch: branch,
      disableRofiles: true,
      forceClean: true,
      stateDir: path.join(work, 'state'),
      isolatedRoot,
    },
    { timeoutMs: 300_000 },
  );
  const ref = `app/${appId}/${arch}/${branch}`;
  const commit = await ostree.revParse(o.repo, ref);
  if (!commit) throw new Error(`flatpak-builder did not create ${ref}`);
  return { repo: o.repo, ref, commit, message };
}
