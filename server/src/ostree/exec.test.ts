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

test('a tool dies with the process that started it, even one killed with SIGKILL (and under a jail\'s setpriv)', { timeout: 30_000 }, async () => {
  const { spawn } = await import('node:child_process');
  const execTs = new URL('./exec.ts', import.meta.url).href;
  for (const [cmd, args] of [
    ['sleep', ['300']],
    ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sleep', '301']],
  ] as const) {
    if (cmd === 'setpriv' && process.getuid?.() !== 0) continue; // changing user needs root
    // A process that runs the tool through runTool and prints the tool's pid, then is killed.
    const script = `const { runTool } = await import(${JSON.stringify(execTs)});
      runTool(${JSON.stringify(cmd)}, ${JSON.stringify(args)}).catch(() => {});
      const { execFileSync } = await import('node:child_process');
      for (;;) { await new Promise((r) => setTimeout(r, 50));
        try { console.log(execFileSync('pgrep', ['-f', '^sleep ${args.at(-1)}$']).toString().trim()); break; } catch {} }
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString()))));
    assert.ok(pid > 0);
    parent.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        process.kill(pid, 0);
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, `${cmd} ${args.join(' ')} outlived its parent`);
  }
});

test('a program that is not there or not executable is a spawn ToolError, through setpriv as well', async () => {
  await assert.rejects(runTool('no-such-tool-on-any-path', []), (e: unknown) => e instanceof ToolError && e.reason === 'spawn');
  await assert.rejects(runTool('/tmp', []), (e: unknown) => e instanceof ToolError && e.reason === 'spawn');
});
