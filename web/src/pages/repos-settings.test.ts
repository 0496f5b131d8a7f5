import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RepoFieldsFragment } from '@fmd/sdk';
import { changedSettings } from './repos.ts';

const repo = {
  name: 'beta',
  title: 'Beta',
  comment: null,
  description: null,
  homepage: 'https://example.org',
  icon: null,
  suggestedRemoteName: null,
  defaultBranch: null,
  baseUrl: null,
  runtimeRepoUrl: null,
  redirectUrl: null,
  deployCollectionId: true,
  autoPublish: false,
  defaultTokenType: 0,
  authRequiredTokenTypes: [],
  parent: { name: 'stable' },
  autoPromote: { delaySecs: 0, appIdPrefixes: [] },
  subsets: {},
  deltaSettings: { generate: true },
  hooks: { checks: [] },
} as unknown as RepoFieldsFragment;

const same = {
  title: 'Beta',
  homepage: 'https://example.org',
  deployCollectionId: true,
  autoPublish: false,
  authRequiredTokenTypes: [],
  parent: 'stable',
  autoPromote: { delaySecs: 0, appIdPrefixes: [] },
  subsets: {},
  deltaSettings: { generate: true },
  hooks: { checks: [] },
};

test('an update sends only what changed', () => {
  assert.deepEqual(changedSettings(repo, same), {});
  assert.deepEqual(changedSettings(repo, { ...same, title: 'Beta apps', autoPublish: true }), { title: 'Beta apps', autoPublish: true });
});

test('an emptied setting is cleared with null, an unticked auto-promotion too; an emptied JSON box goes back to the default', () => {
  assert.deepEqual(changedSettings(repo, { ...same, homepage: undefined, parent: undefined, autoPromote: undefined }), { homepage: null, parent: null, autoPromote: null });
  assert.deepEqual(changedSettings(repo, { ...same, hooks: undefined, subsets: undefined, deltaSettings: undefined }), {});
  const withHooks = { ...repo, hooks: { checks: [{ name: 'lint', command: ['true'] }] } } as RepoFieldsFragment;
  assert.deepEqual(changedSettings(withHooks, { ...same, hooks: undefined }), { hooks: { checks: [] } });
});
