// Runs the real fmdc (bin/run.js) as a child process, with a config dir of its own and none of
// the caller's FMDC_* / REPO_TOKEN variables, so a developer's own login never leaks into a test:
// to its end (`fmdc`), or live, watching its output as it comes and signalling it (`startFmdc`).
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));

export type Run = { code: number; stdout: string; stderr: string };

export type FmdcOptions = { env?: Record<string, string | undefined>; input?: string; configDir?: string; cwd?: string; timeoutMs?: number };

export function configDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'fmdc-config-'));
}

export type LiveRun = {
  /** what it printed so far */
  readonly stdout: string;
  readonly stderr: string;
  /** resolves once the stream matches; fails when fmdc ends first */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Run>;
};

function fmdcEnv(o: FmdcOptions): NodeJS.ProcessEnv {
  // Wide columns: oclif would otherwise wrap error messages, and assertions on them with it.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', OCLIF_COLUMNS: '1000' };
  // NODE_TEST_CONTEXT would make the child talk to the test runner instead of printing.
  for (const k of Object.keys(env)) if (k.startsWith('FMDC_') || k === 'REPO_TOKEN' || k === 'NODE_TEST_CONTEXT') delete env[k];
  if (o.configDir) env.FMDC_CONFIG_DIR = o.configDir;
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function startFmdc(args: string[], o: FmdcOptions = {}): LiveRun {
  const env = fmdcEnv(o);
  const child = spawn(process.execPath, [bin, ...args], { env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (s: string) => ((out.stdout += s), changed()));
  child.stderr.setEncoding('utf8').on('data', (s: string) => ((out.stderr += s), changed()));
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
  let closed = false;
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      closed = true;
      changed();
      resolve({ code: code ?? (signal ? 128 : 1), ...out });
    });
  });
  child.stdin.end(o.input ?? '');
  return {
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    waitFor(pattern, stream = 'stdout', waitMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const finish = (f: () => void) => {
          clearTimeout(t);
          waiters.delete(check);
          f();
        };
        const check = () => {
          if (pattern.test(out[stream])) finish(resolve);
          else if (closed) finish(() => reject(new Error(`fmdc ${args[0]} ${args[1] ?? ''} ended before its ${stream} matched ${pattern}: stdout ${out.stdout} stderr ${out.stderr}`)));
        };
        const t = setTimeout(() => finish(() => reject(new Error(`${stream} did not match ${pattern} within ${waitMs} ms: stdout ${out.stdout} stderr ${out.stderr}`))), waitMs);
        waiters.add(check);
        check();
      });
    },
    kill: (signal) => void child.kill(signal),
    done,
  };
}

export function fmdc(args: string[], o: FmdcOptions = {}): Promise<Run> {
  return startFmdc(args, o).done;
}

/**
 * fmdc on a pseudo-terminal (util-linux script(1)), answering each prompt as it shows: what a
 * user at a terminal sees, the terminal's echo included. stdout holds the terminal's output
 * (stdout and stderr of fmdc together).
 */
export function fmdcOnTerminal(args: string[], o: FmdcOptions, answers: { prompt: RegExp; answer: string }[]): Promise<Run> {
  const quote = (a: string) => `'${a.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, bin, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: fmdcEnv(o), cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const pending = [...answers];
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (pending[0]?.prompt.test(stdout)) child.stdin.write(`${pending.shift()!.answer}\n`);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
