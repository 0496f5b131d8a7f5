import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../../errors.ts';
import { findManifest, readManifest } from './manifest.ts';

async function checkout(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fmd-manifest-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), content);
  }
  return dir;
}

const yamlManifest = (id: string) => `app-id: ${id}\nruntime: org.test.Platform\nruntime-version: '1'\nsdk: org.test.Sdk\nmodules: []\n`;
const jsonManifest = (id: string) => JSON.stringify({ id, runtime: 'org.test.Platform', 'runtime-version': '1', sdk: 'org.test.Sdk', modules: [] });

function invalid(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, `an InvalidInputError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  };
}

test('discovery: <app-id>.yml|yaml|json at the root comes first', async () => {
  const dir = await checkout({
    'org.test.App.json': jsonManifest('org.test.App'),
    'other/org.test.Other.yml': yamlManifest('org.test.Other'),
  });
  assert.equal(await findManifest(dir, { appId: 'org.test.App' }), 'org.test.App.json');
  const dir2 = await checkout({ 'org.test.App.yaml': yamlManifest('org.test.App'), 'x.json': jsonManifest('org.test.X') });
  assert.equal(await findManifest(dir2, { appId: 'org.test.App' }), 'org.test.App.yaml');
});

test('discovery: else the single manifest at the root or one level down; other json/yaml files are ignored', async () => {
  const dir = await checkout({
    'package.json': '{"name":"x","version":"1"}',
    '.github/workflows/ci.yml': 'on: push\n',
    'broken.yml': 'app-id: [unclosed',
    'flatpak/org.test.App.yml': yamlManifest('org.test.App'),
    'a/b/deep.yml': yamlManifest('org.test.Deep'),
  });
  assert.equal(await findManifest(dir, {}), 'flatpak/org.test.App.yml');
  assert.equal(await findManifest(dir, { appId: 'org.test.App' }), 'flatpak/org.test.App.yml');
});

test('discovery: ambiguity lists the candidates; an app id picks among them; none is an error too', async () => {
  const dir = await checkout({
    'one.yml': yamlManifest('org.test.One'),
    'sub/two.json': jsonManifest('org.test.Two'),
  });
  await assert.rejects(findManifest(dir, {}), invalid(/several flatpak-builder manifests found \(one\.yml, sub\/two\.json\)/));
  assert.equal(await findManifest(dir, { appId: 'org.test.Two' }), 'sub/two.json');
  const empty = await checkout({ 'README.md': 'hi' });
  await assert.rejects(findManifest(empty, { appId: 'org.test.App' }), invalid(/no flatpak-builder manifest for org\.test\.App found/));
});

test('a given path must stay inside the checkout: no "..", no absolute path, no symlink out', async () => {
  const outside = await checkout({ 'secret.yml': yamlManifest('org.test.Secret') });
  const dir = await checkout({ 'm/app.yml': yamlManifest('org.test.App') });
  await symlink(path.join(outside, 'secret.yml'), path.join(dir, 'link.yml'));
  await symlink(outside, path.join(dir, 'linkdir'));
  await symlink('m/app.yml', path.join(dir, 'inside.yml'));

  assert.equal(await findManifest(dir, { path: 'm/app.yml' }), 'm/app.yml');
  assert.equal(await findManifest(dir, { path: './m/../m/app.yml' }), 'm/app.yml');
  assert.equal(await findManifest(dir, { path: 'inside.yml' }), 'inside.yml');
  await assert.rejects(findManifest(dir, { path: '../x/secret.yml' }), invalid(/leaves the repository/));
  await assert.rejects(findManifest(dir, { path: 'm/../../secret.yml' }), invalid(/leaves the repository/));
  await assert.rejects(findManifest(dir, { path: path.join(outside, 'secret.yml') }), invalid(/leaves the repository/));
  await assert.rejects(findManifest(dir, { path: 'link.yml' }), invalid(/not in the repository/));
  await assert.rejects(findManifest(dir, { path: 'linkdir/secret.yml' }), invalid(/not in the repository/));
  await assert.rejects(findManifest(dir, { path: 'missing.yml' }), invalid(/not in the repository/));
  await assert.rejects(findManifest(dir, { path: 'm' }), invalid(/not a \.yml, \.yaml or \.json file/));
  // Discovery follows no symlink: the linked manifest outside is not a candidate, nor is the link to m/app.yml.
  assert.equal(await findManifest(dir, {}), 'm/app.yml');
});

test('readManifest: YAML and JSON, id or app-id, with runtime, sdk, branch and extensions', async () => {
  const dir = await checkout({
    'a.yml': [
      'id: org.test.App',
      'runtime: org.freedesktop.Platform',
      'runtime-version: 23.08', // YAML reads this as a number
      'sdk: org.freedesktop.Sdk',
      'branch: beta',
      'default-branch: stable',
      'sdk-extensions: [org.freedesktop.Sdk.Extension.rust-stable]',
      'base: org.electronjs.Electron2.BaseApp',
      "base-version: '23.08'",
      'modules:',
      '  - name: x',
      '    buildsystem: simple',
      '    build-commands: [true]',
    ].join('\n'),
    'b.json': jsonManifest('org.test.B'),
  });
  assert.deepEqual(await readManifest(path.join(dir, 'a.yml')), {
    appId: 'org.test.App',
    runtime: 'org.freedesktop.Platform',
    runtimeVersion: '23.08',
    sdk: 'org.freedesktop.Sdk',
    branch: 'beta',
    defaultBranch: 'stable',
    sdkExtensions: ['org.freedesktop.Sdk.Extension.rust-stable'],
    base: 'org.electronjs.Electron2.BaseApp',
    baseVersion: '23.08',
    buildRuntime: false,
    buildExtension: false,
  });
  const b = await readManifest(path.join(dir, 'b.json'));
  assert.equal(b.appId, 'org.test.B');
  assert.equal(b.runtimeVersion, '1');
  assert.equal(b.branch, null);
  assert.equal(b.defaultBranch, null);
  assert.deepEqual(b.sdkExtensions, []);
});

test('readManifest: bad manifests are InvalidInputErrors that say what is wrong', async () => {
  const base = { id: 'org.test.App', runtime: 'org.test.Platform', sdk: 'org.test.Sdk', modules: [] };
  const cases: Array<[string, string, RegExp]> = [
    ['syntax.json', '{"id": "org.test.App",', /cannot be parsed/],
    ['syntax.yml', 'id: [a\n', /cannot be parsed/],
    ['list.yml', '- a\n- b\n', /not a mapping/],
    ['scalar.json', '"x"', /not a mapping/],
    ['noid.json', JSON.stringify({ ...base, id: undefined }), /has no "id"/],
    ['badid.json', JSON.stringify({ ...base, id: 'not-an-id' }), /not a valid app id/],
    ['differ.json', JSON.stringify({ ...base, 'app-id': 'org.test.Other' }), /"id" and "app-id" differ/],
    ['noruntime.json', JSON.stringify({ ...base, runtime: undefined }), /"runtime" is missing/],
    ['nosdk.json', JSON.stringify({ ...base, sdk: undefined }), /"sdk" is missing/],
    ['badsdk.json', JSON.stringify({ ...base, sdk: '../etc' }), /sdk "\.\.\/etc" is not a valid runtime id/],
    ['badsdk2.json', JSON.stringify({ ...base, sdk: 'org.test.Sdk//1' }), /sdk "org\.test\.Sdk\/\/1" is not a valid runtime id/],
    ['baddefault.json', JSON.stringify({ ...base, 'default-branch': 'a b' }), /"default-branch" "a b" is not a valid branch/],
    ['nomodules.json', JSON.stringify({ ...base, modules: undefined }), /"modules" must be a list/],
    ['badbranch.json', JSON.stringify({ ...base, branch: '-x' }), /"branch" "-x" is not a valid branch/],
    ['badext.json', JSON.stringify({ ...base, 'sdk-extensions': [1] }), /"sdk-extensions" must be a list/],
    ['badbool.json', JSON.stringify({ ...base, 'build-runtime': 'yes' }), /"build-runtime" must be true or false/],
    ['typed.json', JSON.stringify({ ...base, runtime: { x: 1 } }), /"runtime" must be a non-empty string/],
  ];
  const dir = await checkout(Object.fromEntries(cases.map(([n, c]) => [n, c])));
  for (const [name, , re] of cases) {
    await assert.rejects(readManifest(path.join(dir, name)), invalid(new RegExp(`manifest ${name.replace('.', '\\.')}: .*${re.source}`)), name);
  }
  await assert.rejects(readManifest(path.join(dir, 'missing.json')), invalid(/not found/));
});
