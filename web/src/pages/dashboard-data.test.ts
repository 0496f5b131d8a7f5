import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archBranch, downloadsByApp, phaseSeries } from './dashboard-data.ts';

test('downloadsByApp sums refs per app, most downloaded first; archBranch names a ref in its app', () => {
  const r = (repo: string, ref: string, installs: number, updates: number) => ({ repo, ref, appId: ref.split('/')[1]!, installs, updates });
  const apps = downloadsByApp([r('main', 'app/org.a.A/x86_64/stable', 1, 0), r('main', 'runtime/org.b.B/x86_64/1', 2, 3), r('beta', 'app/org.a.A/aarch64/stable', 1, 1)]);
  assert.deepEqual(apps.map((a) => [a.appId, a.installs, a.updates, a.refs.length]), [['org.b.B', 2, 3, 1], ['org.a.A', 2, 1, 2]]);
  assert.equal(archBranch('app/org.a.A/x86_64/stable'), 'x86_64/stable');
  assert.deepEqual(phaseSeries([{ queueWaitSeconds: 1, buildSeconds: null, commitSeconds: 3, publishSeconds: 4 }]), { queue: [1], build: [null], commit: [3], publish: [4] });
});
