// Issue 2 bench: cold start to ready with the embedded MariaDB, on an empty data dir (install
// the database, migrate, bootstrap the admin) and on a second start reusing it.
// Usage: npm exec -- node bench/cold-start.ts [runs=3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fmd = fileURLToPath(new URL('../server/bin/fmd.js', import.meta.url));
const runs = Number(process.argv[2] ?? 3);

async function startOnce(dataDir: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [fmd, 'serve'], { env: { ...process.env, FMD_DATA_DIR: dataDir, FMD_PORT: '0', FMD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.on('exit', (c) => reject(new Error(`fmd exited ${c}`)));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /fmd is running at (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
  });
  // Ready means /readyz answers 200.
  while ((await fetch(`${url}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 20));
  const ms = performance.now() - t0;
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return ms;
}

const cold: number[] = [];
const warm: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fmd-coldstart-'));
  cold.push(await startOnce(dir));
  warm.push(await startOnce(dir));
  rmSync(dir, { recursive: true, force: true });
}
const fmt = (xs: number[]) => `median ${(xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]! / 1000).toFixed(2)} s (runs: ${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})`;
console.log(`empty data dir -> ready (install MariaDB, migrate, bootstrap): ${fmt(cold)}`);
console.log(`existing data dir -> ready:                                 ${fmt(warm)}`);
