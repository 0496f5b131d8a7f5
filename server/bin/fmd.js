#!/usr/bin/env node
// The fmd admin command (`fmd serve`, `fmd worker`, `fmd doctor`, ...). Plain JavaScript so that
// it can say clearly when the Node running it is too old to load fmd's TypeScript (Node 24 strips
// the types itself; there is no build step): `#!/usr/bin/env node` finds whatever node is first
// on the PATH, which outside `npm exec`/`npm run` may be the system's older one.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(
    `fmd: needs Node 24 or later, this is ${process.version} (${process.execPath}).\n` +
      'Run it with the Node npm installed in the checkout: `npm exec fmd -- <command>`, or `node_modules/.bin/node server/bin/fmd.js <command>`.',
  );
  process.exit(2);
}
await import('../src/admin/main.ts');
