// A generated "app" for the build benches: FILES files of about FILE_KB KiB of half-compressible
// data committed into an archive-z2 repo under a flatpak-style ref, plus helpers to time things.
import { mkdirSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { runTool } from '../../server/src/ostree/exec.ts';

export const REF = 'app/org.bench.App/x86_64/stable';

/** Writes the app's FILES files of about FILE_KB KiB under `root`, in 50 subdirectories. */
export function writeAppFiles(root: string, files = Number(process.env.FILES ?? 5000), fileKb = Number(process.env.FILE_KB ?? 40)) {
  for (let i = 0; i < files; i++) {
    const sub = path.join(root, `d${i % 50}`);
    if (i < 50) mkdirSync(sub, { recursive: true });
    // base64 of random bytes: deflate gets it to ~75%, like typical binaries.
    writeFileSync(path.join(sub, `f${i}`), randomBytes(Math.floor((fileKb * 1024 * 3) / 4)).toString('base64'));
  }
  return { files, rawBytes: files * fileKb * 1024 };
}

export async function generateApp(dir: string, files = Number(process.env.FILES ?? 5000), fileKb = Number(process.env.FILE_KB ?? 40)) {
  const tree = path.join(dir, 'tree');
  writeAppFiles(path.join(tree, 'files'), files, fileKb);
  writeFileSync(path.join(tree, 'metadata'), '[Application]\nname=org.bench.App\nruntime=org.bench.Platform/x86_64/1\n');
  const repo = path.join(dir, 'src-repo');
  await runTool('ostree', ['init', `--repo=${repo}`, '--mode=archive-z2']);
  const { stdout } = await runTool('ostree', ['commit', `--repo=${repo}`, `--branch=${REF}`, `--tree=dir=${tree}`, '--subject=bench'], { timeoutMs: 600_000 });
  return { repo, commit: stdout.trim(), files, rawBytes: files * fileKb * 1024 };
}

/** Bytes of all loose objects in a repo (what a push or pull moves). */
export function objectBytes(repo: string): number {
  let total = 0;
  const objects = path.join(repo, 'objects');
  for (const d of readdirSync(objects)) for (const f of readdirSync(path.join(objects, d))) total += statSync(path.join(objects, d, f)).size;
  return total;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export async function gql(url: string, token: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
