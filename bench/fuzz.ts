// The long fuzz run: the generator and harness of server/test/fuzz.test.ts (same entry points,
// same checks: no 5xx, no GraphQL INTERNAL_SERVER_ERROR, answers in time, refused requests
// change no data) for FUZZ_CASES cases (default 20000) from a random seed, printed first so
// that a failure can be replayed: FUZZ_SEED=<seed> FUZZ_CASE=<n> node --test server/test/fuzz.test.ts
// Prints cases/s, the count of each status, the slowest targets and every failing case.
// Run from the repo root: npm run bench -- fuzz   (or: FUZZ_CASES=2000 node bench/fuzz.ts)
import { randomInt } from 'node:crypto';
import { startFuzzer, type CaseResult } from '../server/test/kit/fuzz-harness.ts';
import { seedFrom } from '../server/test/kit/fuzz.ts';

const seed = seedFrom(process.env, randomInt(2 ** 32));
const cases = Number(process.env.FUZZ_CASES ?? 20_000);
const from = Number(process.env.FUZZ_FROM ?? 0);
console.log(`fuzz: seed ${seed}, cases ${from}..${from + cases - 1}`);

const f = await startFuzzer();
console.log(`${f.targets.length} targets: ${f.targets.map((t) => t.name).join(', ')}`);
// Ctrl-C ends the run after the case under way, with its figures and a clean stop.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => (stopping = true));
const statuses = new Map<number, number>();
const time = new Map<string, number>();
const failures: CaseResult[] = [];
let accepted = 0;
const t0 = performance.now();
try {
  let n = from;
  for (; n < from + cases && !stopping; n++) {
    const c = await f.runCase(seed, n);
    statuses.set(c.status, (statuses.get(c.status) ?? 0) + 1);
    time.set(c.target, (time.get(c.target) ?? 0) + c.ms);
    if (c.accepted) accepted++;
    if (c.failure) {
      failures.push(c);
      console.log(`FAIL FUZZ_SEED=${seed} FUZZ_CASE=${n} (target ${c.target}, answered ${c.status})\n  input: ${c.input}\n  ${c.failure}`);
    }
    if ((n - from + 1) % 1000 === 0) console.log(`  ${n - from + 1} cases, ${((n - from + 1) / ((performance.now() - t0) / 1000)).toFixed(1)} cases/s, ${failures.length} failing`);
  }
  const secs = (performance.now() - t0) / 1000;
  const alive = await f.alive();
  const ran = n - from;
  console.log(`fuzz: ${ran} cases in ${secs.toFixed(1)} s = ${(ran / secs).toFixed(1)} cases/s; ${accepted} accepted; server alive: ${alive}`);
  console.log(`statuses: ${[...statuses].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ')}`);
  console.log(`slowest targets (total ms): ${[...time].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([t, ms]) => `${t} ${Math.round(ms)}`).join(', ')}`);
  console.log(`failing cases: ${failures.length}${failures.length ? ` (${failures.map((c) => c.n).join(', ')}; seed ${seed})` : ''}`);
  if (failures.length || !alive) process.exitCode = 1;
} finally {
  await f.stop();
}
