// The fmd admin command run as an operator runs it: bin/fmd.js in its own process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const fmdBin = fileURLToPath(new URL('../../bin/fmd.js', import.meta.url));

export type Ran = { code: number | null; stdout: string; stderr: string };

/**
 * Runs `fmd ...args` to its end with a minimal environment plus `env`. Asynchronously: some
 * commands (`status`) call back into a test server of the calling process.
 */
export function runFmd(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const child = spawn(process.execPath, [fmdBin, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FMD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** A run as an assertion message. */
export const showRun = (r: Ran) => `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
