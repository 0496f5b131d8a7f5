// Starts a real fmd server process on a fresh data dir (embedded MariaDB) for benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fmd = fileURLToPath(new URL('../../server/bin/fmd.js', import.meta.url));

export type FmdProcess = { url: string; token: string; readyMs: number; child: ChildProcess; stop(): Promise<void> };

export async function startFmd(env: Record<string, string> = {}): Promise<FmdProcess> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-'));
  const started = performance.now();
  const child = spawn(process.execPath, [...(process.env.FMD_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FMD_BENCH_PROFILE}`] : []), fmd, 'serve'], {
    env: { ...process.env, FMD_DATA_DIR: dataDir, FMD_PORT: '0', FMD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const { url, token } = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`fmd exited with ${code}: ${out}`)));
    child.stdout!.on('data', (d) => {
      out += d;
      const u = /fmd is running at (\S+)/.exec(out);
      const t = /Admin token[^\n]*\n\n\s+(\S+)/.exec(out);
      if (u && t) resolve({ url: u[1]!, token: t[1]! });
    });
  });
  const readyMs = performance.now() - started;
  child.removeAllListeners('exit');
  return {
    url,
    token,
    readyMs,
    child,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
