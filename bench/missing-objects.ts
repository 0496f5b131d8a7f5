// missing_objects for 50,000 object names (N to change), all absent (the worst case: the upload
// repo and the parent repo are both looked at for each): one request of all of them, and the
// flat-manager-client way (gzip JSON bodies on GET, chunks of 2000). Then /healthz latency while
// one request of 500,000 names (BIG to change) runs: the lookup must not hold the event loop.
// The one-request bodies are compressed before the clock starts: gzip of megabytes of random
// hex is the client's work (about 200 ms for 50k names on a busy 2-core machine), not fmd's.
// Run from the repo root: npm exec -- node bench/missing-objects.ts
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { FlatManagerClient, request } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { gql, timed } from './support/gen-app.ts';

const n = Number(process.env.N ?? 50_000);
const big = Number(process.env.BIG ?? 500_000);
const types = ['filez', 'dirtree', 'dirmeta', 'commit'];
const names = (count: number) => Array.from({ length: count }, (_, i) => `${randomBytes(32).toString('hex')}.${types[i % 4]}`);
const gzipBody = (wanted: string[]) => gzipSync(Buffer.from(JSON.stringify({ wanted })));
const wanted = names(n);
const body = gzipBody(wanted);
const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
const fmd = await startFmd({ FMD_JOB_WORKERS: '1' });
/** CPU time fmd's process has used, in ms (utime + stime from /proc): unlike wall time, it holds on a shared, busy machine. */
const fmdCpuMs = () => {
  const fields = readFileSync(`/proc/${fmd.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
};
try {
  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo" }) { __typename } }`);
  const client = new FlatManagerClient(fmd.url, fmd.token);
  const build = await client.createBuild('bench');
  await client.missingObjects(build.url, wanted.slice(0, 100)); // warm up
  const one: number[] = [];
  const oneCpu: number[] = [];
  const chunked: number[] = [];
  for (let i = 0; i < 5; i++) {
    const cpu = fmdCpuMs();
    one.push((await timed(async () => {
      const r = await request('GET', `${build.url}/missing_objects`, { token: fmd.token, body, headers });
      if (r.body.missing.length !== n) throw new Error('wrong answer');
    })).ms);
    oneCpu.push(fmdCpuMs() - cpu);
    chunked.push((await timed(async () => {
      if ((await client.missingObjects(build.url, wanted)).length !== n) throw new Error('wrong answer');
    })).ms);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`missing_objects, ${n} names, all missing (median of 5):`);
  console.log(`  one request:               ${med(one).toFixed(0)} ms  (fmd's CPU time: ${med(oneCpu).toFixed(0)} ms; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`);
  console.log(`  chunks of 2000 (${Math.ceil(n / 2000)} GETs):    ${med(chunked).toFixed(0)} ms  (the client gzips each chunk)`);

  const bigBody = gzipBody(names(big));
  const probe = async () =>
    (await timed(async () => {
      const r = await fetch(`${fmd.url}/healthz`);
      if (r.status !== 200) throw new Error(`/healthz ${r.status}`);
      await r.arrayBuffer();
    })).ms;
  // The same probes with nothing else running: on a shared machine the scheduler alone delays some.
  const idle: number[] = [];
  for (let t0 = performance.now(); performance.now() - t0 < 4000; ) {
    idle.push(await probe());
    await new Promise((r) => setTimeout(r, 10));
  }
  const probes: number[] = [];
  let running = true;
  const started = performance.now();
  // The answer is counted, not parsed: parsing 37 MB of JSON here would stall this process's
  // own /healthz probes and be measured as fmd's latency.
  const bigRequest = new Promise<number>((resolve, reject) => {
    const req = http.request(`${build.url}/missing_objects`, { method: 'GET', headers: { ...headers, authorization: `Bearer ${fmd.token}`, 'content-length': String(bigBody.length) } }, (res) => {
      let names = 0;
      let last = 0;
      res.on('data', (chunk: Buffer) => {
        for (let i = chunk.indexOf(0x2c); i >= 0; i = chunk.indexOf(0x2c, i + 1)) names++;
        last = chunk[chunk.length - 1]!;
      });
      res.on('end', () => {
        if (res.statusCode !== 200 || names + 1 !== big || last !== 0x7d) reject(new Error(`wrong answer: ${res.statusCode}, ${names + 1} names`));
        else resolve(performance.now() - started);
      });
    });
    req.on('error', reject);
    req.end(bigBody);
  }).finally(() => (running = false));
  while (running) {
    probes.push(await probe());
    await new Promise((r) => setTimeout(r, 10));
  }
  const bigMs = await bigRequest;
  console.log(`while one request of ${big} names runs (${bigMs.toFixed(0)} ms):`);
  const p99 = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length * 0.99)]!;
  console.log(`  /healthz: ${probes.length} probes, median ${med(probes).toFixed(1)} ms, p99 ${p99(probes).toFixed(1)} ms, max ${Math.max(...probes).toFixed(1)} ms`);
  console.log(`  /healthz with nothing running (4 s before): median ${med(idle).toFixed(1)} ms, p99 ${p99(idle).toFixed(1)} ms, max ${Math.max(...idle).toFixed(1)} ms`);
} finally {
  await fmd.stop();
}
