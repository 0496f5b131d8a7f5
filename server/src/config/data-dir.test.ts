// Where the data lives must not depend on the directory fmd was started from: npm runs the
// server in the server workspace, scripts/start.sh from the repository root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './index.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

test('the default data dir is ./data at the repository root, whatever the working directory', () => {
  const cwd = process.cwd();
  try {
    for (const dir of [repoRoot, path.join(repoRoot, 'server'), '/']) {
      process.chdir(dir);
      assert.equal(loadConfig({}).dataDir, path.join(repoRoot, 'data'));
    }
  } finally {
    process.chdir(cwd);
  }
});

test('FMD_DATA_DIR overrides it; a relative one is resolved against the repository root', () => {
  assert.equal(loadConfig({ FMD_DATA_DIR: '/var/lib/fmd' }).dataDir, '/var/lib/fmd');
  assert.equal(loadConfig({ FMD_DATA_DIR: 'other/place' }).dataDir, path.join(repoRoot, 'other', 'place'));
  assert.equal(loadConfig({ FMD_DATA_DIR: '../beside' }).dataDir, path.resolve(repoRoot, '..', 'beside'));
});

test('the config file is remembered by its absolute path (git builds hide it from the build jail)', async () => {
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(path.join(tmpdir(), 'fmd-config-'));
  await writeFile(path.join(dir, 'fmd.yaml'), 'secret: c2VjcmV0\n');
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    assert.equal(loadConfig({ FMD_CONFIG: 'fmd.yaml' }).configFile, path.join(dir, 'fmd.yaml'));
  } finally {
    process.chdir(cwd);
  }
  assert.equal(loadConfig({}).configFile, undefined);
});
