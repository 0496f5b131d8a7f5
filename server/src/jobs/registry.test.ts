// Every kind the domain can queue has a handler, and every handler a kind: a kind whose handler
// went missing would sit in the queue forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobKinds } from '../domain/jobs/queue.ts';
import { jobKindDefinitions, type JobServices } from './registry.ts';

test('the registry defines exactly the job kinds, each with a handler and a recovery rule', () => {
  // The factories only keep the services for later: none is called here.
  const defs = jobKindDefinitions({} as JobServices);
  assert.deepEqual(Object.keys(defs).sort(), [...jobKinds].sort());
  for (const [kind, def] of Object.entries(defs)) {
    assert.equal(typeof def.handler, 'function', kind);
    assert.ok(typeof def.recovery === 'function' || def.recovery === 'requeue' || def.recovery === 'fail', kind);
  }
  assert.ok(!(jobKinds as readonly string[]).includes('purge'), 'purge has no handler: purges happen in the request');
});
