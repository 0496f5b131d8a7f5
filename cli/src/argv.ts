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

export function moveGlobalOptions(argv: readonly string[]): string[] {
  const moved: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    const name = arg.split('=', 1)[0]!;
    if (withValue.has(name)) {
      if (arg.includes('=')) {
        moved.push(arg);
        i += 1;
      } else {
        if (i + 1 >= argv.length) break; // `--token` with nothing after it: let oclif say so
        moved.push(arg, argv[i + 1]!);
        i += 2;
      }
    } else if (switches.has(arg)) {
      moved.push(switches.get(arg)!);
      i += 1;
    } else break;
  }
  const rest = argv.slice(i);
  if (moved.length === 0 || rest.length === 0) return [...argv];
  // Before a `--`, if any: what follows it is positional.
  const end = rest.indexOf('--');
  return end === -1 ? [...rest, ...moved] : [...rest.slice(0, end), ...moved, ...rest.slice(end)];
}
