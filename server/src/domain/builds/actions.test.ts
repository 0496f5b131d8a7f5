import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BuildState, PublishedState } from '../../generated/prisma/client.ts';
import type { Claims } from '../tokens/claims.ts';
import { buildActions } from './actions.ts';

const viewer = (c: Partial<Claims>) => ({ ownerId: null, claims: { sub: '', scope: ['build', 'publish'], prefixes: [''], apps: [], repos: [''], exp: 0, name: 't', ...c } as Claims });
const b = (state: BuildState, publishedState: PublishedState = 'UNPUBLISHED', commit: string | null | undefined = undefined) => ({
  id: 7,
  state,
  publishedState,
  appId: 'org.test.App',
  repoName: 'main',
  source: commit === undefined ? null : { commit },
});

test('the actions follow the state machine', () => {
  const v = viewer({});
  const cases: Array<[ReturnType<typeof b>, string[], string?]> = [
    [b('UPLOADING'), ['COMMIT', 'PURGE']],
    [b('COMMITTING'), []],
    [b('VALIDATING'), ['PURGE']],
    [b('READY'), ['PUBLISH', 'PURGE']],
    [b('READY', 'FAILED'), ['PUBLISH', 'PURGE'], 'a failed publish may be published again'],
    [b('READY', 'PUBLISHING'), []],
    [b('READY', 'PUBLISHED'), ['PURGE', 'PROMOTE']],
    [b('FAILED'), ['PURGE']],
    [b('PURGING'), []],
    [b('WAITING', 'UNPUBLISHED', null), ['CANCEL']],
    [b('BUILDING', 'UNPUBLISHED', 'abc'), ['CANCEL', 'REBUILD']],
    [b('FAILED', 'UNPUBLISHED', 'abc'), ['PURGE', 'REBUILD']],
    [b('FAILED', 'UNPUBLISHED', null), ['PURGE'], 'never cloned: nothing to rebuild from'],
    [b('CANCELLED', 'UNPUBLISHED', 'abc'), ['PURGE', 'REBUILD']],
  ];
  for (const [build, want, why] of cases) assert.deepEqual(buildActions(v, build), want, `${build.state}/${build.publishedState}${why ? `: ${why}` : ''}`);
});

test('the actions are those the token covers: scope, sub, repo and prefix', () => {
  const uploading = b('UPLOADING');
  const ready = b('READY');
  assert.deepEqual(buildActions(null, uploading), []);
  assert.deepEqual(buildActions(viewer({ scope: ['download'] }), uploading), []);
  assert.deepEqual(buildActions(viewer({ scope: ['publish'] }), ready), ['PUBLISH']);
  assert.deepEqual(buildActions(viewer({ scope: ['build'] }), ready), ['PURGE']);
  assert.deepEqual(buildActions(viewer({ repos: ['other'] }), uploading), []);
  assert.deepEqual(buildActions(viewer({ prefixes: ['org.other'] }), uploading), []);
  assert.deepEqual(buildActions(viewer({ sub: 'build/8' }), uploading), [], 'a token for another build');
  assert.deepEqual(buildActions(viewer({ sub: 'build/7' }), uploading), ['COMMIT', 'PURGE']);
});
