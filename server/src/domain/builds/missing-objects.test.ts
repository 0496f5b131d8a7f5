import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../errors.ts';
import { parseWanted } from './missing-objects.ts';

const names = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => `${(i + salt).toString(16).padStart(64, '0')}.filez`);
const body = (v: unknown, indent?: number) => Buffer.from(JSON.stringify(v, null, indent));

test('small and large bodies give what JSON.parse gives', async () => {
  assert.equal(await parseWanted(undefined), undefined);
  assert.equal(await parseWanted(Buffer.from('  ')), undefined);
  assert.deepEqual(await parseWanted(body({ wanted: names(3) })), names(3));
  const many = names(60_000);
  assert.deepEqual(await parseWanted(body({ wanted: many })), many);
  assert.deepEqual(await parseWanted(body({ wanted: many }, 2)), many);
  assert.deepEqual(await parseWanted(Buffer.from(` { "wanted" : [ ${many.map((n) => `"${n}"`).join(' ,\n')} ] } `)), many);
  assert.deepEqual(await parseWanted(body({ wanted: [] })), []);
  assert.equal(await parseWanted(body({ other: names(60_000) })), undefined);
});

test('shapes the slices cannot take fall back to one parse, with the same result', async () => {
  // Commas inside strings, nested values, other keys after the array, a second "wanted".
  const tricky = [...names(20_000), 'a,b,"c",[d]', ...names(20_000, 1), ['x,y', { z: ',' }], ...names(20_000, 2)];
  assert.deepEqual(await parseWanted(body({ wanted: tricky })), tricky);
  const withMore = { wanted: names(60_000), then: [1, 2, 3] };
  assert.deepEqual(await parseWanted(body(withMore)), withMore.wanted);
  const twice = Buffer.from(`{"wanted": ${JSON.stringify(names(60_000))}, "wanted": ["last"]}`);
  assert.deepEqual(await parseWanted(twice), ['last']);
});

test('invalid JSON and a body that is not an object are refused as input errors', async () => {
  const big = Buffer.from(`{"wanted": ${JSON.stringify(names(60_000)).slice(0, -1)},]}`);
  await assert.rejects(parseWanted(big), InvalidInputError);
  await assert.rejects(parseWanted(Buffer.from('{"wanted": [')), InvalidInputError);
  await assert.rejects(parseWanted(body([names(1)])), /must be a JSON object/);
});

test('a large body is parsed in slices, letting the event loop run in between', async () => {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const many = names(400_000);
  const raw = body({ wanted: many });
  // Enough slices that the parse outlasts the yield interval even on a fast machine.
  const parsed = (await parseWanted(raw)) as string[];
  running = false;
  assert.equal(parsed.length, many.length);
  assert.ok(turns > 1, `the event loop turned ${turns} times`);
});

test('the worker thread and the in-place path give the same answers and the same refusals', async () => {
  const { mkdtemp, mkdir, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { MissingObjectsAnswerer, answerMissingObjects } = await import('./missing-objects.ts');
  const root = await mkdtemp(path.join(tmpdir(), 'fmd-missing-'));
  const answerer = new MissingObjectsAnswerer();
  try {
    const repos = { upload: path.join(root, 'upload'), parent: path.join(root, 'parent') };
    const all = names(30_000);
    // Every third name is in the upload repo, every fifth in the parent.
    for (const [i, n] of all.entries()) {
      const repo = i % 3 === 0 ? repos.upload : i % 5 === 0 ? repos.parent : null;
      if (!repo) continue;
      await mkdir(path.join(repo, 'objects', n.slice(0, 2)), { recursive: true });
      await writeFile(path.join(repo, 'objects', n.slice(0, 2), n.slice(2)), '');
    }
    const expected = all.filter((_, i) => i % 3 !== 0 && i % 5 !== 0);
    // Each call gets a body of its own: the answerer hands a large one over to the worker.
    const raw = () => body({ wanted: all });
    assert.ok(raw().length > 1024 * 1024, 'large enough for the worker');
    const viaWorker = JSON.parse((await answerer.answer(raw(), repos)).toString());
    assert.deepEqual(viaWorker, { missing: expected });
    assert.deepEqual(JSON.parse((await answerMissingObjects(raw(), repos)).toString()), { missing: expected });
    assert.deepEqual(JSON.parse((await answerer.answer(body({ wanted: all.slice(0, 10) }), repos)).toString()), { missing: expected.filter((n) => all.slice(0, 10).includes(n)) });
    const bad = body({ wanted: [...all, '../../etc/passwd'] });
    await assert.rejects(answerer.answer(bad, repos), (err: unknown) => err instanceof InvalidInputError && /invalid object name/.test(err.message));
    await assert.rejects(answerer.answer(body({ wanted: 'x'.repeat(2 * 1024 * 1024) }), repos), InvalidInputError);
    // Still serving after refusals.
    assert.deepEqual(JSON.parse((await answerer.answer(raw(), repos)).toString()), { missing: expected });
  } finally {
    await answerer.close();
    await rm(root, { recursive: true, force: true });
  }
});
