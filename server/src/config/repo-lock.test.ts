// repo-lock-wait-secs: a whole number of seconds, at least 1, from the file or the environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './index.ts';

test('repo-lock-wait-secs defaults to 1800, is read from FMD_REPO_LOCK_WAIT_SECS, and refuses what is not a positive whole number', () => {
  assert.equal(loadConfig({}).repoLockWaitSecs, 1800);
  assert.equal(loadConfig({ FMD_REPO_LOCK_WAIT_SECS: '45' }).repoLockWaitSecs, 45);
  assert.equal(loadConfig({}, { 'repo-lock-wait-secs': 7 }).repoLockWaitSecs, 7);
  for (const bad of ['0', '-5', '1.5', 'soon']) {
    assert.throws(() => loadConfig({ FMD_REPO_LOCK_WAIT_SECS: bad }), (e: unknown) => e instanceof ConfigError && /repo-lock-wait-secs/.test(e.message), bad);
  }
});
