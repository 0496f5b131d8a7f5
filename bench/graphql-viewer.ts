// Issue 2 bench: authenticated `{ viewer }` on fmd at 10 connections, beside a bare Apollo
// `{ hello }` server measured in the same run (target: fmd >= 60% of the bare req/s), plus a
// paged tokens list. Both servers run as separate processes; autocannon runs here.
// Usage: npm exec -- node bench/graphql-viewer.ts [seconds=10]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startFmd } from './support/fmd-process.ts';

const seconds = Number(process.argv[2] ?? 10);

async function load(name: string, url: string, query: string, token?: string) {
  const body = JSON.stringify({ query });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  // Check the answer once before measuring: a benchmark of errors is worthless.
  const check = (await (await fetch(`${url}/graphql`, { method: 'POST', headers, body })).json()) as { errors?: unknown };
  if (check.errors) throw new Error(`${name}: ${JSON.stringify(check.errors)}`);
  await autocannon({ url: `${url}/graphql`, method: 'POST', headers, body, connections: 10, duration: 2 }); // warm-up
  const r = await autocannon({ url: `${url}/graphql`, method: 'POST', headers, body, connections: 10, duration: seconds });
  if (r.non2xx || r.errors) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const row = { name, reqPerSec: Math.round(r.requests.average), p50ms: r.latency.p50, p99ms: r.latency.p99, requests: r.requests.total };
  console.log(`${name.padEnd(34)} ${String(row.reqPerSec).padStart(6)} req/s   p50 ${row.p50ms} ms   p99 ${row.p99ms} ms`);
  return row;
}

const bare = spawn(process.execPath, [fileURLToPath(new URL('./support/bare-apollo.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
const bareUrl = await new Promise<string>((resolve) => bare.stdout!.once('data', (d) => resolve(String(d).trim())));
const fmd = await startFmd();
try {
  // Some tokens to page through.
  for (let i = 0; i < 60; i++) {
    await fetch(`${fmd.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fmd.token}` },
      body: JSON.stringify({ query: `mutation { createToken(input: { name: "bench-${i}", scopes: ["build"], durationSeconds: 3600 }) { __typename } }` }),
    });
  }
  console.log(`10 connections, ${seconds} s each, 2 cores shared by server and load generator\n`);
  const b = await load('bare Apollo { hello }', bareUrl, '{ hello }');
  const v = await load('fmd { viewer } (authenticated)', fmd.url, '{ viewer { name scopes tokenId } }', fmd.token);
  const t = await load('fmd tokens(first: 20) page', fmd.url, '{ tokens(first: 20) { totalCount edges { node { tokenId name scopes createdAt } } } }', fmd.token);
  console.log(`\nfmd viewer / bare Apollo: ${((100 * v.reqPerSec) / b.reqPerSec).toFixed(0)}% (target >= 60%)`);
  console.log(`tokens page / bare Apollo: ${((100 * t.reqPerSec) / b.reqPerSec).toFixed(0)}%`);
} finally {
  await fmd.stop();
  bare.kill('SIGTERM');
}
