#!/usr/bin/env node
// fmdc: runs the TypeScript commands in src/commands directly (Node 24 strips the types),
// so there is no build step and no ts-node/tsx.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`fmdc needs Node 24 or later (this is ${process.version}). From the fmd checkout run: npm exec -w @fmd/cli -- fmdc ...`);
  process.exit(1);
}

const { execute, settings } = await import('@oclif/core');
const { lacksCommand, moveGlobalOptions } = await import('../src/argv.ts');
// Never let oclif look for ts-node/tsx or a compiled lib/: the sources are what runs.
settings.enableAutoTranspile = false;
const args = process.argv.slice(2);
if (lacksCommand(args)) {
  console.error('fmdc: no command given after the global options; see fmdc --help');
  process.exit(2);
}
// flat-manager-client's global options come before the verb; oclif wants them after it.
await execute({ dir: import.meta.url, args: moveGlobalOptions(args) });
