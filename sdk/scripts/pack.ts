// Packs @fmd/sdk for projects outside this monorepo: compiles src/ to JavaScript plus .d.ts
// (tsconfig.build.json) into a staging directory whose package.json points every subpath of
// ../package.json `exports` at the compiled files, then runs `npm pack` there. Inside the monorepo
// the package keeps resolving to its .ts sources.
//   node scripts/pack.ts [--out DIR] [--no-pack]
// Prints the tarball's path (or, with --no-pack, the staging directory) as its last line.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const sdkDir = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(sdkDir, 'dist') }, 'no-pack': { type: 'boolean', default: false } } });
const out = path.resolve(values.out!);
const staging = path.join(out, 'package');

type Exports = string | { [condition: string]: Exports };
type Manifest = { name: string; version: string; description?: string; type?: string; engines?: object; exports: Exports; dependencies?: object };

function fail(message: string): never {
  console.error(`pack: ${message}`);
  process.exit(1);
}

function run(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.error) fail(`${command}: ${r.error.message}`);
  if (r.status !== 0) fail(`${command} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}`);
  return r.stdout;
}

// `./src/push/index.ts` -> { types: './dist/push/index.d.ts', default: './dist/push/index.js' }
function compiled(target: Exports): Exports {
  if (typeof target !== 'string') return Object.fromEntries(Object.entries(target).map(([condition, t]) => [condition, compiled(t)]));
  const m = /^\.\/src\/(.+)\.ts$/.exec(target);
  if (!m) fail(`export target ${target} is not a .ts file under ./src`);
  for (const file of [`dist/${m[1]}.js`, `dist/${m[1]}.d.ts`]) if (!existsSync(path.join(staging, file))) fail(`${file} was not emitted for the export ${target}`);
  return { types: `./dist/${m[1]}.d.ts`, default: `./dist/${m[1]}.js` };
}

const manifest = JSON.parse(readFileSync(path.join(sdkDir, 'package.json'), 'utf8')) as Manifest;
if (!existsSync(path.join(sdkDir, 'src/generated/graphql.ts'))) fail('src/generated/graphql.ts is missing: run `npm run codegen` at the repository root');

rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
run(process.execPath, [tsc, '-p', path.join(sdkDir, 'tsconfig.build.json'), '--outDir', path.join(staging, 'dist')], sdkDir);

const packed = {
  name: manifest.name,
  version: manifest.version,
  description: manifest.description ?? 'Typed client for the fmd GraphQL API',
  // Not meant for a public registry (the scope is not ours there): install the tarball.
  private: true,
  type: manifest.type ?? 'module',
  engines: manifest.engines,
  exports: compiled(manifest.exports),
  files: ['dist', 'README.md'],
  dependencies: manifest.dependencies,
};
writeFileSync(path.join(staging, 'package.json'), `${JSON.stringify(packed, null, 2)}\n`);
if (existsSync(path.join(sdkDir, 'README.md'))) copyFileSync(path.join(sdkDir, 'README.md'), path.join(staging, 'README.md'));

if (values['no-pack']) {
  console.log(staging);
} else {
  const [info] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', out], staging)) as Array<{ filename: string }>;
  if (!info) fail('npm pack reported no tarball');
  console.log(path.join(out, info.filename));
}
