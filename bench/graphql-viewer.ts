// GraphQL bench: authenticated `{ viewer }` on fmd at 10 connections, beside a bare Apollo
// `{ hello }` server measured in the same run (target: fmd >= 75% of the bare req/s), plus the
// list pages the dashboard and `fmdc ... list` call most: 20 tokens and 20 builds with their
// refs, each with totalCount (target: >= 25% of bare). Both servers run as separate processes;
// autocannon runs here.
// Usage: npm exec -- node bench/graphql-viewer.ts [seconds=10]
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startFmd } from './support/fmd-process.ts';

const seconds = Number(process.argv[2] ?? 10);

/** CPU time (ms) a process has used: on a shared machine req/s drift, CPU per request much less. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime in clock ticks of 10 ms
}

async function load(name: string, url: string, query: string, token: string | undefined, pid: number) {
  const body = JSON.stringify({ query });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  // Check the answer once before measuring: a benchmark of errors is worthless.
  const check = (await (await fetch(`${url}/graphql`, { method: 'POST', headers, body })).json()) as { errors?: unknown };
  if (check.errors) throw new Error(`${name}: ${JSON.stringify(check.errors)}`);
  await autocannon({ url: `${url}/graphql`, method: 'POST', headers, body, connections: 10, duration: 2 }); // warm-up
  const cpu0 = cpuMs(pid);
  const r = await autocannon({ url: `${url}/graphql`, method: 'POST', headers, body, connections: 10, duration: seconds });
  const cpuPerReq = (cpuMs(pid) - cpu0) / r.requests.total;
  if (r.non2xx || r.errors) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  const row = { name, reqPerSec: Math.round(r.requests.average), p50ms: r.latency.p50, p99ms: r.latency.p99, requests: r.requests.total, cpuPerReq };
  console.log(`${name.padEnd(38)} ${String(row.reqPerSec).padStart(6)} req/s   p50 ${row.p50ms} ms   p99 ${row.p99ms} ms   server CPU ${cpuPerReq.toFixed(2)} ms/req`);
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
  // Builds with refs to page through, made through the API: a repo, then per build one uploaded
  // commit object (a real one: uploads are verified) and three refs pointing at it.
  const work = mkdtempSync(path.join(os.tmpdir(), 'fmd-bench-commit-'));
  const ostreeRepo = path.join(work, 'repo');
  mkdirSync(path.join(work, 'tree'));
  execFileSync('ostree', ['init', `--repo=${ostreeRepo}`, '--mode=archive-z2']);
  const commit = execFileSync('ostree', [`--repo=${ostreeRepo}`, 'commit', '--branch=bench', `--tree=dir=${path.join(work, 'tree')}`]).toString().trim();
  const bytes = readFileSync(path.join(ostreeRepo, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`));
  rmSync(work, { recursive: true, force: true });
  const gql = async (query: string, variables?: Record<string, unknown>) => {
    const r = (await (
      await fetch(`${fmd.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${fmd.token}` },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as { data?: any; errors?: unknown };
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data;
  };
  await gql('mutation { createRepo(input: { name: "bench" }) { __typename } }');
  for (let i = 0; i < 30; i++) {
    const app = `org.bench.App${i}`;
    const created = await gql(`mutation { createBuild(input: { repo: "bench", appId: "${app}" }) { ... on BuildPayload { build { number } } } }`);
    const number = created.createBuild.build.number as number;
    const form = new FormData();
    form.append('file', new Blob([bytes]), `${commit}.commit`);
    const up = await fetch(`${fmd.url}/api/v1/build/${number}/upload`, { method: 'POST', headers: { authorization: `Bearer ${fmd.token}` }, body: form });
    if (!up.ok) throw new Error(`upload: ${up.status} ${await up.text()}`);
    for (const ref of [`app/${app}/x86_64/stable`, `runtime/${app}.Locale/x86_64/stable`, `runtime/${app}.Debug/x86_64/stable`]) {
      const r = await gql(`mutation($input: AddBuildRefInput!) { addBuildRef(input: $input) { __typename ... on Error { message } } }`, {
        input: { build: number, ref, commit },
      });
      if (r.addBuildRef.__typename !== 'BuildPayload') throw new Error(JSON.stringify(r));
    }
  }
  console.log(`10 connections, ${seconds} s each, 2 cores shared by server and load generator\n`);
  const fmdPid = fmd.child.pid!;
  const b = await load('bare Apollo { hello }', bareUrl, '{ hello }', undefined, bare.pid!);
  const v = await load('fmd { viewer } (authenticated)', fmd.url, '{ viewer { name scopes tokenId } }', fmd.token, fmdPid);
  const t = await load('fmd tokens(first: 20) page', fmd.url, '{ tokens(first: 20) { totalCount edges { node { tokenId name scopes createdAt } } } }', fmd.token, fmdPid);
  const bp = await load(
    'fmd builds(first: 20) page with refs',
    fmd.url,
    '{ builds(first: 20) { totalCount edges { node { number appId state publishedState createdAt refs { name commit } } } } }',
    fmd.token,
    fmdPid,
  );
  const pct = (x: { reqPerSec: number }) => ((100 * x.reqPerSec) / b.reqPerSec).toFixed(0);
  console.log(`\nfmd viewer / bare Apollo: ${pct(v)}% (target >= 75%)`);
  console.log(`tokens page / bare Apollo: ${pct(t)}% (target >= 25%)`);
  console.log(`builds page / bare Apollo: ${pct(bp)}% (target >= 25%)`);
  // The same ratios from CPU per request (the embedded MariaDB's share not included).
  const cpuPct = (x: { cpuPerReq: number }) => ((100 * b.cpuPerReq) / x.cpuPerReq).toFixed(0);
  console.log(`by server CPU per request: viewer ${cpuPct(v)}%, tokens page ${cpuPct(t)}%, builds page ${cpuPct(bp)}% of bare Apollo`);
} finally {
  await fmd.stop();
  bare.kill('SIGTERM');
}
