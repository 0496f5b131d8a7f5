// missing_objects for 50,000 object names (N to change), all absent (the worst case: the upload
// repo and the parent repo are both looked at for each): one request of all of them, and the
// flat-manager-client way (gzip JSON bodies on GET, chunks of 2000).
// Run from the repo root: npm exec -- node bench/missing-objects.ts
import { randomBytes } from 'node:crypto';
import { FlatManagerClient, request } from '../server/test/kit/flat-manager-client.ts';
import { startFmd } from './support/fmd-process.ts';
import { gql, timed } from './support/gen-app.ts';

const n = Number(process.env.N ?? 50_000);
const types = ['filez', 'dirtree', 'dirmeta', 'commit'];
const wanted = Array.from({ length: n }, (_, i) => `${randomBytes(32).toString('hex')}.${types[i % 4]}`);
const fmd = await startFmd({ FMD_JOB_WORKERS: '1' });
try {
  await gql(fmd.url, fmd.token, `mutation { createRepo(input: { name: "bench", collectionId: "org.bench.Repo" }) { __typename } }`);
  const client = new FlatManagerClient(fmd.url, fmd.token);
  const build = await client.createBuild('bench');
  await client.missingObjects(build.url, wanted.slice(0, 100)); // warm up
  const one: number[] = [];
  const chunked: number[] = [];
  for (let i = 0; i < 5; i++) {
    one.push((await timed(async () => {
      const r = await request('GET', `${build.url}/missing_objects`, { token: fmd.token, json: { wanted }, gzip: true });
      if (r.body.missing.length !== n) throw new Error('wrong answer');
    })).ms);
    chunked.push((await timed(async () => {
      if ((await client.missingObjects(build.url, wanted)).length !== n) throw new Error('wrong answer');
    })).ms);
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(`missing_objects, ${n} names, all missing (median of 5):`);
  console.log(`  one request:               ${med(one).toFixed(0)} ms`);
  console.log(`  chunks of 2000 (${Math.ceil(n / 2000)} GETs):    ${med(chunked).toFixed(0)} ms`);
} finally {
  await fmd.stop();
}
