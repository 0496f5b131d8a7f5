// The one runner for external programs (ostree, flatpak, flatpak-builder, git).
// argv arrays only — never a shell — so refs, paths and user-supplied subjects
// can never be interpreted as shell syntax. Every call has a timeout and can be
// cancelled, and output is delivered line by line so job logs stream live.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export type ToolStream = 'stdout' | 'stderr';

export interface RunToolOptions {
  cwd?: string;
  /** Full environment for the child. Defaults to the parent's environment. */
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGTERM, then SIGKILL after 5 s) after this long. Default 10 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once per complete line (without the newline), and once for a trailing partial line at exit. */
  onLine?: (line: string, stream: ToolStream) => void;
  /** Written to the child's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Cap on the stdout/stderr kept in memory (each); the oldest output is dropped. Default 16 MiB. */
  maxBuffer?: number;
  /** The command named in a ToolError, when `cmd` only wraps it (a jail's setpriv or bwrap): users know the tool, not the wrapper. */
  displayName?: string;
  /** Open file descriptors the child gets as fds 3, 4, ... (after those of the file locks held by the caller, see lock.ts). */
  inheritFds?: readonly number[];
}

/**
 * The fds of the file locks the current async context holds (lock.ts): every tool started in it
 * gets them, so a lock lives as long as the longest-living of the holder and its tools.
 */
export const heldLockFds = new AsyncLocalStorage<readonly number[]>();

export interface ToolResult {
  stdout: string;
  stderr: string;
  code: number;
}

export type ToolFailure = 'exit' | 'timeout' | 'aborted' | 'spawn';

/** A tool that did not finish cleanly. `stderrTail` is what an operator needs to see in a job log. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  readonly command: string;
  readonly args: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly reason: ToolFailure;
  readonly stdout: string;
  readonly stderr: string;
  readonly stderrTail: string;

  constructor(init: {
    command: string;
    args: readonly string[];
    code: number | null;
    signal: NodeJS.Signals | null;
    reason: ToolFailure;
    stdout: string;
    stderr: string;
    cause?: unknown;
  }) {
    const tail = tailLines(init.stderr, 20);
    const what =
      init.reason === 'timeout'
        ? 'timed out'
        : init.reason === 'aborted'
          ? 'was cancelled'
          : init.reason === 'spawn'
            ? 'could not be started'
            : `exited with code ${init.code ?? `signal ${init.signal}`}`;
    super(`${init.command} ${what}${tail ? `: ${tail}` : ''}`, { cause: init.cause });
    this.command = init.command;
    this.args = init.args;
    this.code = init.code;
    this.signal = init.signal;
    this.reason = init.reason;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.stderrTail = tail;
  }
}

function tailLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/** Splits a byte stream into lines, carrying partial lines (and split UTF-8 sequences) across chunks. */
class LineSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private pending = '';
  private readonly emit: (line: string) => void;
  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }
  push(chunk: Buffer): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) !== -1) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
  }
  end(): void {
    this.pending += this.decoder.decode();
    if (this.pending.length > 0) this.emit(this.pending);
    this.pending = '';
  }
}

/** Keeps at most `max` bytes of output: long-running builds must not grow memory without bound. */
class BoundedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
    }
  }
  toString(): string {
    const all = Buffer.concat(this.chunks);
    return (all.length > this.max ? all.subarray(all.length - this.max) : all).toString('utf8');
  }
}

const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;
const KILL_GRACE_MS = 5000;

export function runTool(cmd: string, args: readonly string[], opts: RunToolOptions = {}): Promise<ToolResult> {
  const max = opts.maxBuffer ?? 16 * 1024 * 1024;
  const stdout = new BoundedBuffer(max);
  const stderr = new BoundedBuffer(max);
  const onLine = opts.onLine;
  const outLines = onLine ? new LineSplitter((l) => onLine(l, 'stdout')) : null;
  const errLines = onLine ? new LineSplitter((l) => onLine(l, 'stderr')) : null;

  return new Promise<ToolResult>((resolve, reject) => {
    const fail = (reason: ToolFailure, code: number | null, signal: NodeJS.Signals | null, cause?: unknown) =>
      reject(
        new ToolError({
          command: opts.displayName ?? cmd,
          args,
          code,
          signal,
          reason,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
          cause,
        }),
      );

    if (opts.signal?.aborted) {
      fail('aborted', null, null, opts.signal.reason);
      return;
    }

    const argv = tiedToThisProcess(cmd, args);
    const extraFds = [...(heldLockFds.getStore() ?? []), ...(opts.inheritFds ?? [])];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...extraFds],
      shell: false,
      // A process group of its own, so a cancelled flatpak-builder takes its children along.
      detached: true,
    });

    let stopReason: ToolFailure | null = null;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (reason: ToolFailure) => {
      if (stopReason || child.exitCode !== null) return;
      stopReason = reason;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (c: Buffer) => {
      stdout.push(c);
      outLines?.push(c);
    });
    child.stderr!.on('data', (c: Buffer) => {
      stderr.push(c);
      errLines?.push(c);
    });
    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading stdin must not crash us with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }

    let spawnError: Error | null = null;
    child.on('error', (err) => {
      spawnError = err;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      outLines?.end();
      errLines?.end();
      // setpriv reports a tool it could not start (not found: 127, not executable: 126) as spawn did
      const notStarted = (code === 127 || code === 126) && /^setpriv: failed to execute /m.exec(stderr.toString());
      if (!spawnError && notStarted) spawnError = Object.assign(new Error(notStarted.input.slice(notStarted.index).split('\n')[0]!), { code: code === 127 ? 'ENOENT' : 'EACCES' });
      if (spawnError) fail('spawn', null, null, spawnError);
      else if (stopReason) fail(stopReason, code, signal, stopReason === 'aborted' ? opts.signal?.reason : undefined);
      else if (code !== 0) fail('exit', code, signal);
      else resolve({ stdout: stdout.toString(), stderr: stderr.toString(), code: 0 });
    });
  });
}

/**
 * The command run so that the kernel kills it (SIGKILL) when this process dies, however it dies:
 * a tool must never outlive its worker, or it would still write into a repo beside the job that
 * takes over (a `flatpak build-update-repo` went on generating deltas for a minute after a
 * `kill -9`). `setpriv --pdeathsig` sets that on the tool itself, after any change of user a
 * jail's own setpriv makes (a change of credentials clears it, so it goes into that setpriv, not
 * around it).
 */
export function tiedToThisProcess(cmd: string, args: readonly string[]): string[] {
  // By its path: the tool is looked up on the PATH the tool gets, which may be a narrow one.
  if (!setprivPath) return [cmd, ...args];
  if (cmd === 'setpriv') return [setprivPath, '--pdeathsig', 'KILL', ...args];
  return [setprivPath, '--pdeathsig', 'KILL', '--', cmd, ...args];
}

/** util-linux's setpriv (every Debian has it); without it tools run untied, as before. */
const setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}
