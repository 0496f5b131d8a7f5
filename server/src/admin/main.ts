// `fmd <command>`: the one entry point of the server side. Each command lives in its own file and
// is loaded only when run, so `fmd doctor` or `fmd --help` do not load the GraphQL server.
// Exit codes: 0 ok, 1 a problem (doctor found one, the database is unreachable, ...), 2 bad usage
// (unknown command or flag, bad value, bad configuration).
import { ConfigError } from '../config/index.ts';
import { UsageError, type CommandModule } from './cli.ts';

/** `noArgs`: the command takes no arguments, checked before its (large) module is loaded. */
type Entry = { summary: string; usage: string; noArgs?: boolean; load: () => Promise<CommandModule> };

const commands: Record<string, Entry> = {
  serve: {
    summary: 'run the API server (and jobs, with job-workers > 0)',
    usage: `usage: fmd serve

Runs the HTTP, GraphQL and flat-manager API server with the configuration (FMD_CONFIG and the
environment). Without DATABASE_URL it starts its own MariaDB under the data dir and stops it
when it stops. SIGTERM or SIGINT drains HTTP, WebSockets and running jobs (30 s), then exits 0.`,
    noArgs: true,
    load: () => import('./serve.ts'),
  },
  worker: {
    summary: 'run jobs only (needs the server\'s database)',
    usage: `usage: fmd worker

Runs job-workers jobs at a time and nothing else. It needs the database the server uses:
DATABASE_URL, or the same FMD_DATA_DIR as a running server with the embedded MariaDB.
SIGTERM or SIGINT lets running jobs finish (30 s), then exits 0.`,
    noArgs: true,
    load: () => import('./worker.ts'),
  },
  migrate: {
    summary: 'apply pending database migrations, or list them (--status)',
    usage: `usage: fmd migrate [--status]
       fmd migrate resolve (--rolled-back NAME | --applied NAME)

  (none)          apply the pending migrations (fmd serve also does this at start)
  --status        list every migration: applied, pending, failed, modified; exit 1 if one failed
  resolve         mark a failed migration rolled back (to retry it) or applied (done by hand),
                  like \`prisma migrate resolve\``,
    load: () => import('./migrate.ts'),
  },
  user: {
    summary: 'create users, set passwords, unlock accounts (no token needed)',
    usage: `usage: fmd user create NAME [--admin] [--role [REPO:[PREFIX:]]ROLE]... [--display-name TEXT] [--email ADDR] [--password-file FILE | --no-password]
       fmd user set-password NAME [--password-file FILE]
       fmd user unlock NAME
       fmd user list

The password is read from --password-file, else from stdin (one line). Roles: VIEWER, UPLOADER,
PUBLISHER, REPO_ADMIN; REPO and PREFIX default to every repo and every app id ("*").
  --admin         the user administers fmd (users, keys, repos) with no role bounds`,
    load: () => import('./user.ts'),
  },
  token: {
    summary: 'mint an API token directly in the database (token mint)',
    usage: `usage: fmd token mint --name NAME --scope SCOPE[,SCOPE...] [--repo REPO]... [--prefix PREFIX]...
                      [--sub SUB] [--duration 1y]
       fmd token mint --admin [--name NAME] [--duration 1y]

Mints a token signed with the server's secret, records it (it can be revoked like any other) and
prints it on stdout. For when no admin token is at hand; otherwise use createToken / fmdc token create.

  --scope         comma-separated or repeated: jobs build upload publish generate download
                  republish reviewcheck tokenmanagement admin
  --repo          a repo the token may use (repeat); default: every repo
  --prefix        an app id prefix the token may use (repeat); default: every app
  --sub           the token's subject (flat-manager's build-path prefix); default: none
  --duration      how long it is valid: 90d, 12h, 1y, or seconds; default 1y
  --admin         every scope, repo and app (the admin user's token); --scope/--repo/--prefix not allowed`,
    load: () => import('./token.ts'),
  },
  doctor: {
    summary: 'check tools, database, disk, signing keys and repos; exit 1 on any problem',
    usage: `usage: fmd doctor [--fsck] [--min-free SIZE]

Checks what fmd needs and prints one line per check: "ok: ..." or "problem: ...", and exits 1
when there is any problem:
  - ostree, flatpak and flatpak-builder on the PATH, with their versions
  - the database reachable (DATABASE_URL, or the embedded MariaDB under the data dir), no failed migration
  - free space in the data dir at least --min-free (default 5G; K M G T suffixes)
  - signing keys: none expired or expiring within 30 days, each decrypts with the master key
  - every repo's directory exists and is an OSTree repo
  --fsck          also run \`ostree fsck\` on every repo (slow: reads every object)`,
    load: () => import('./doctor.ts'),
  },
  status: {
    summary: 'show processes, queued and running jobs, and the last repo updates',
    usage: `usage: fmd status [--url URL]...

Prints what the job store knows: the API server (its /readyz at --url, default the configured
host and port; repeat --url for several API servers), the processes running jobs (their heartbeats), queued jobs per kind, running jobs
with the process running each, and each repo's last update-repo job with its time and result.
Exit 1 when the database cannot be read.`,
    load: () => import('./status.ts'),
  },
  'import-flat-manager': {
    summary: 'adopt a flat-manager installation: repos, keys, token secret, revoked tokens',
    usage: `usage: fmd import-flat-manager [--dry-run] [--gpg-passphrase-file FILE] [--skip-revoked-tokens] CONFIG.json

Reads a flat-manager config and writes into fmd's database (and data dir):
  - every repo of \`repos\`, adopted where it is on disk (<data-dir>/repos/<name> links to its
    path, resolved against the config's directory; it must be an archive-z2 OSTree repo), with
    the settings fmd has an equivalent for; the others are printed as warnings
  - the repos' gpg keys, exported from \`gpg-homedir\` and stored by fmd
  - \`secret\` as fmd's token secret (into <data-dir>/secret when fmd has none yet), so tokens
    flat-manager signed keep working
  - the token ids flat-manager revoked (read from \`database-url\` with psql), revoked in fmd
Prints one line per action; repos, keys and revocations already in fmd are left as they are,
so it can run again. Any problem is an \`error:\` line, nothing is written, and it exits 1.

  --dry-run               print the plan, write nothing
  --gpg-passphrase-file   the passphrase of protected gpg keys (its first line)
  --skip-revoked-tokens   do not read database-url (flat-manager's revoked tokens work again!)`,
    load: () => import('./import-flat-manager.ts'),
  },
};

function overview(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return [
    'usage: fmd <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    '`fmd <command> --help` describes a command. Configuration: FMD_CONFIG and the environment (see the README).',
    'Exit codes: 0 ok, 1 a problem, 2 bad usage or configuration.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number | 'running'> {
  const [name, ...args] = argv;
  if (name === undefined) {
    console.error(overview());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(overview());
    return 0;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name]! : undefined;
  if (!entry) {
    console.error(`fmd: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(entry.usage);
    return 0;
  }
  try {
    if (entry.noArgs && args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
    const mod = await entry.load();
    return await mod.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`fmd ${name}: ${err.message}\n\n${entry.usage}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      for (const p of err.problems) console.error(`fmd: config: ${p}`);
      return 2;
    }
    console.error(`fmd ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// serve and worker keep running until a signal; the one-shot commands exit now, whatever a
// library left open (a pool's keep-alive timer must not hold a finished command).
if (code !== 'running') process.exit(code);
