// Git builds run as the system user fmd-builder when fmd is root (see domain/builds/git/jail.ts);
// scripts/install.sh creates it on real machines, tests make sure it exists.
import { runTool } from '../../src/ostree/exec.ts';
import { BUILDER_USER } from '../../src/domain/builds/git/jail.ts';

let ensured: Promise<void> | undefined;

export function ensureBuilderUser(): Promise<void> {
  ensured ??= (async () => {
    if (process.getuid?.() !== 0) return;
    const exists = await runTool('id', ['-u', BUILDER_USER]).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await runTool('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', BUILDER_USER]).catch(
      async (err: unknown) => {
        // Another test process created it at the same moment.
        await runTool('id', ['-u', BUILDER_USER]).catch(() => {
          throw err;
        });
      },
    );
  })();
  return ensured;
}
