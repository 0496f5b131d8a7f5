// Runs the real fmdc (bin/run.js) as a child process: to the end (`fmdc`), or live, watching
// its output as it comes and signalling it (`startFmdc`).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/run.js', import.meta.url));

export type Run = { code: number; signal: NodeJS.Signals | null; stdout: string; stderr: string };

function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // NODE_TEST_CONTEXT would make the child talk to the test runner instead of printing; the
  // caller's own server and token settings must not leak in.
  const out: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', NODE_TEST_CONTEXT: undefined, FMD_URL: undefined, FMD_TOKEN: undefined, FMDC_URL: undefined, FMDC_TOKEN: undefined, REPO_TOKEN: undefined, ...env };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export type LiveRun = {
  /** what it printed so far */
  readonly stdout: string;
  readonly stderr: string;
  /** resolves once stdout (or stderr) matches */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<Run>;
};

export function startFmdc(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 300_000): LiveRun {
  const child = spawn(process.execPath, [bin, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout.setEncoding('utf8').on('data', (d: string) => ((out.stdout += d), changed()));
  child.stderr.setEncoding('utf8').on('data', (d: string) => ((out.stderr += d), changed()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let closed = false;
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      closed = true;
      changed();
      resolve({ code: code ?? -1, signal, ...out });
    }),
  );
  return {
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    waitFor(pattern, stream = 'stdout', waitMs = 120_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(out[stream])) return finish(resolve);
          if (closed) return finish(() => reject(new Error(`fmdc ${args.join(' ')} ended before ${stream} matched ${pattern}: stdout ${out.stdout} stderr ${out.stderr}`)));
        };
        const t = setTimeout(() => finish(() => reject(new Error(`${stream} did not match ${pattern} within ${waitMs} ms: stdout ${out.stdout} stderr ${out.stderr}`))), waitMs);
        const finish = (f: () => void) => {
          clearTimeout(t);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    kill: (signal) => void child.kill(signal),
    done,
  };
}

/** Runs fmdc to its end. */
export function fmdc(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<Run> {
  return startFmdc(args, env, timeoutMs).done;
}
