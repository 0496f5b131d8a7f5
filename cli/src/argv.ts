// flat-manager-client takes its global options before the verb (`flat-manager-client --token X
// push ...`); oclif only parses flags after the command. So the options at the front of the
// command line move behind it before oclif sees it, and a CI script written for
// flat-manager-client runs with fmdc swapped in. Only leading options move: anything from the
// first word that is not one of them on stays where it is.

/** Global options that take a value (`--token X` or `--token=X`). */
const withValue = new Set(['--token', '--token-file', '--output', '--profile', '--url']);
/** Global switches; `-v` is flat-manager-client's short --verbose. */
const switches = new Map([
  ['--print-output', '--print-output'],
  ['--debug', '--debug'],
  ['--verbose', '--verbose'],
  ['-v', '--verbose'],
  ['--json', '--json'],
]);

/** The global options at the front of argv (as oclif spells them), and where the rest starts. */
function leadingOptions(argv: readonly string[]): { options: string[]; end: number } {
  const options: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (withValue.has(arg.split('=', 1)[0]!)) {
      const n = arg.includes('=') ? 1 : 2;
      options.push(...argv.slice(i, i + n));
      i += n;
    } else if (switches.has(arg)) {
      options.push(switches.get(arg)!);
      i += 1;
    } else break;
  }
  return { options, end: Math.min(i, argv.length) };
}

/** Global options and no command: what flat-manager-client answers with "No subcommand specified". */
export function lacksCommand(argv: readonly string[]): boolean {
  return argv.length > 0 && leadingOptions(argv).end === argv.length;
}

export function moveGlobalOptions(argv: readonly string[]): string[] {
  const { options, end } = leadingOptions(argv);
  const rest = argv.slice(end);
  if (options.length === 0 || rest.length === 0) return [...argv];
  // Before a `--`, if any: what follows it is positional.
  const dashes = rest.indexOf('--');
  return dashes === -1 ? [...rest, ...options] : [...rest.slice(0, dashes), ...options, ...rest.slice(dashes)];
}
