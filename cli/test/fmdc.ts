// Runs the real fmdc (bin/run.js) as a child process, with a config dir of its own and none of
// the caller's FMDC_* / REPO_TOKEN variables, so a developer's own login never leaks into a test.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));

export type Run = { code: number; stdout: string; stderr: string };

export function configDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'fmdc-config-'));
}

export function fmdc(args: string[], o: { env?: Record<string, string | undefined>; input?: string; configDir?: string; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  // Wide columns: oclif would otherwise wrap error messages, and assertions on them with it.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', OCLIF_COLUMNS: '1000' };
  // NODE_TEST_CONTEXT would make the child talk to the test runner instead of printing.
  for (const k of Object.keys(env)) if (k.startsWith('FMDC_') || k === 'REPO_TOKEN' || k === 'NODE_TEST_CONTEXT') delete env[k];
  if (o.configDir) env.FMDC_CONFIG_DIR = o.configDir;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}
