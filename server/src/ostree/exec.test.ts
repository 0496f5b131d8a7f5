import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runTool, ToolError } from './exec.ts';

const NODE = process.execPath;

test('captures output and delivers whole lines even when chunks split them', async () => {
  // Writes "hel" then "lo\nwor" then "ld" (no trailing newline) in separate chunks.
  const script = `
    const w = (s) => new Promise((r) => process.stdout.write(s, r));
    (async () => { await w('hel'); await new Promise(r => setTimeout(r, 30)); await w('lo\\nwor');
      await new Promise(r => setTimeout(r, 30)); await w('ld'); process.stderr.write('oops\\n'); })();`;
  const lines: Array<[string, string]> = [];
  const r = await runTool(NODE, ['-e', script], { onLine: (l, s) => lines.push([s, l]) });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'hello\nworld');
  assert.deepEqual(
    lines.filter(([s]) => s === 'stdout').map(([, l]) => l),
    ['hello', 'world'],
  );
  assert.deepEqual(lines.filter(([s]) => s === 'stderr'), [['stderr', 'oops']]);
});

test('passes argv without a shell and feeds stdin', async () => {
  const r = await runTool(NODE, ['-e', 'process.stdin.pipe(process.stdout); console.error(process.argv[1])', '$(echo no) ; rm -rf /'], {
    input: 'piped',
  });
  assert.equal(r.stdout, 'piped');
  assert.equal(r.stderr.trim(), '$(echo no) ; rm -rf /');
});

test('non-zero exit throws a ToolError with the stderr tail', async () => {
  await assert.rejects(runTool(NODE, ['-e', 'console.error("bad thing"); process.exit(3)']), (err: unknown) => {
    assert.ok(err instanceof ToolError);
    assert.equal(err.reason, 'exit');
    assert.equal(err.code, 3);
    assert.equal(err.stderrTail, 'bad thing');
    assert.match(err.message, /exited with code 3: bad thing/);
    return true;
  });
});

test('timeout and abort kill the child', async () => {
  const t0 = Date.now();
  await assert.rejects(runTool(NODE, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 200 }), (e: unknown) => e instanceof ToolError && e.reason === 'timeout');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  await assert.rejects(runTool(NODE, ['-e', 'setTimeout(() => {}, 60000)'], { signal: ac.signal }), (e: unknown) => e instanceof ToolError && e.reason === 'aborted');
  assert.ok(Date.now() - t0 < 10_000);
});

test('a missing program is a spawn ToolError', async () => {
  await assert.rejects(runTool('/nonexistent/tool', []), (e: unknown) => e instanceof ToolError && e.reason === 'spawn');
});
