// Offline Flatpak fixtures for tests: a busybox-based runtime
// (org.test.Platform / org.test.Sdk, branch 1) and a trivial app built with
// flatpak-builder. No network: busybox comes from `apt-get download
// busybox-static` (cached), or from an installed /bin/busybox as a fallback.
// Each flatpak client or builder gets its own HOME/XDG dirs (clientEnv).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile, copyFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
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

/** What the test app's composed appstream says about it. */
export type TestMetainfo = {
  name?: string;
  summary?: string;
  /** paragraphs */
  description?: string[];
  developer?: string;
  license?: string;
  homepage?: string;
  /** newest first */
  releases?: Array<{ version: string; date: string; description?: string }>;
  screenshots?: Array<{ url: string; caption?: string }>;
  /** a 64x64 cached icon of this RGB colour, e.g. [200, 40, 40] */
  icon?: [number, number, number];
};

const xmlEscape = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The app's collection XML as appstream-compose leaves it in share/app-info/xmls. */
export function composedAppstream(appId: string, bundle: string, m: TestMetainfo = {}): string {
  const e = xmlEscape;
  const parts = [`<id>${e(appId)}</id>`, `<name>${e(m.name ?? 'Hello')}</name>`, `<summary>${e(m.summary ?? 'fmd test app')}</summary>`];
  if (m.description) parts.push(`<description>${m.description.map((p) => `<p>${e(p)}</p>`).join('')}</description>`);
  if (m.developer) parts.push(`<developer_name>${e(m.developer)}</developer_name>`);
  if (m.license) parts.push(`<project_license>${e(m.license)}</project_license>`);
  if (m.homepage) parts.push(`<url type="homepage">${e(m.homepage)}</url>`);
  if (m.icon) parts.push(`<icon type="cached" width="64" height="64">${e(appId)}.png</icon>`);
  if (m.screenshots?.length) {
    parts.push(`<screenshots>${m.screenshots.map((sc, i) => `<screenshot${i === 0 ? ' type="default"' : ''}>${sc.caption ? `<caption>${e(sc.caption)}</caption>` : ''}<image type="source">${e(sc.url)}</image></screenshot>`).join('')}</screenshots>`);
  }
  if (m.releases?.length) {
    parts.push(`<releases>${m.releases.map((r) => `<release version="${e(r.version)}" date="${e(r.date)}">${r.description ? `<description><p>${e(r.description)}</p></description>` : ''}</release>`).join('')}</releases>`);
  }
  parts.push(`<bundle type="flatpak">${e(bundle)}</bundle>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<components version="0.8" origin="flatpak"><component type="desktop-application">${parts.join('')}</component></components>\n`;
}

/** A 64x64 PNG of one colour (RGB, no alpha), made here so the test needs no image tools. */
export function testIconPng([r, g, b]: [number, number, number], size = 64): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
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
  /** the composed appstream of the app (what appstream-compose leaves); default: id, name Hello, a summary */
  metainfo?: TestMetainfo;
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
          ...(o.metainfo?.icon ? ['mkdir -p /app/share/app-info/icons/flatpak/64x64', `cp icon.png /app/share/app-info/icons/flatpak/64x64/${appId}.png`] : []),
        ],
        sources: [
          { type: 'script', 'dest-filename': 'hello.sh', commands: [`echo "${message}"`] },
          { type: 'inline', 'dest-filename': 'appdata.xml', contents: composedAppstream(appId, `app/${appId}/${arch}/${branch}`, o.metainfo) },
          ...(o.metainfo?.icon ? [{ type: 'inline', 'dest-filename': 'icon.png', base64: true, contents: testIconPng(o.metainfo.icon).toString('base64') }] : []),
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
