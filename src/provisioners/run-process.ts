/**
 * Runs one child process for a provisioner or a scanner: no shell unless the bundle author wrote
 * a shell string, its own process group (so a timeout kills everything it started), stdout kept
 * whole for the machine-readable answer, stderr turned into redacted log lines as it arrives.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { StepLogLine } from '../engine/model.ts';
import type { Redactor } from '../engine/redact.ts';
import type { Clock } from '../engine/model.ts';

/** A command as a bundle declares it: an argv array (no shell) or a fixed shell string. */
export type CommandSpec = string | readonly string[];

/** What to run and how. */
export interface RunProcessOptions {
  command: CommandSpec;
  cwd: string;
  /** The complete environment of the child (nothing of the service's own is added). */
  env: Record<string, string>;
  timeoutMs: number;
  redactor: Redactor;
  clock: Clock;
  /** Receives every log line (already redacted) as it arrives. */
  onLog?: (line: StepLogLine) => void;
  /** Log stdout lines too (for commands whose stdout is not a machine-readable answer). */
  logStdout?: boolean;
  /** Aborting kills the process group (a lost package lock, a shutdown). */
  signal?: AbortSignal;
  /** Most bytes of stdout kept; more is an error (a runaway step). Default 32 MiB. */
  maxStdoutBytes?: number;
}

/** How a process ended. */
export interface RunProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Failed to start (ENOENT, EACCES): the message, never the environment. */
  spawnError?: string;
  stdoutOverflow: boolean;
  /** Raw stdout (not redacted: it is the machine answer; redact before showing it). */
  stdout: string;
  /** Redacted stderr tail (and stdout tail when logged), newest last, for excerpts. */
  tail: string[];
  durationMs: number;
}

const TAIL_LINES = 40;
const KILL_GRACE_MS = 2000;

/** Runs a command to completion (or timeout/abort) and reports how it ended; never throws for the child's failures. */
export function runProcess(opts: RunProcessOptions): Promise<RunProcessResult> {
  const started = Date.now();
  const [file, args] =
    typeof opts.command === 'string' ? ['/bin/sh', ['-c', opts.command]] : [opts.command[0], opts.command.slice(1)];
  const log = runLog(opts);
  return new Promise((resolve) => {
    if (!file) {
      resolve({
        exitCode: null, signal: null, timedOut: false, aborted: false, spawnError: 'empty command', stdoutOverflow: false,
        stdout: '', tail: log.tail, durationMs: 0,
      });
      return;
    }
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    superviseChild(child, file, opts, log, (ended) => resolve({ ...ended, durationMs: Date.now() - started }));
  });
}

/** The redacted log of one run: every line goes to `onLog` and to the tail kept for excerpts. */
interface RunLog {
  /** Newest last, at most {@link TAIL_LINES}. */
  tail: string[];
  emit(stream: StepLogLine['stream'], raw: string): void;
}

function runLog(opts: RunProcessOptions): RunLog {
  const tail: string[] = [];
  return {
    tail,
    emit(stream, raw) {
      const line = opts.redactor.redactText(raw.replace(/\r$/, ''));
      tail.push(stream === 'stdout' ? line : `${stream}: ${line}`);
      if (tail.length > TAIL_LINES) tail.shift();
      opts.onLog?.({ at: opts.clock.now().toISOString(), stream, line });
    },
  };
}

/** Cuts a stream's chunks into log lines as they arrive; `flush` logs what is left at the end. */
function lineSplitter(log: RunLog, stream: 'stdout' | 'stderr'): { push(chunk: Buffer): void; flush(): void } {
  let buf = '';
  return {
    push(chunk: Buffer) {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        log.emit(stream, buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      // A line without a newline for a very long time is still logged, in pieces.
      if (buf.length > 16_384) {
        log.emit(stream, buf);
        buf = '';
      }
    },
    flush() {
      if (buf.length) log.emit(stream, buf);
      buf = '';
    },
  };
}

/** The child's process group: `stop` sends SIGTERM, then SIGKILL after a grace period. */
function processGroup(child: ChildProcess): { kill(sig: NodeJS.Signals): void; stop(): void; cancelPendingKill(): void } {
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // The group is already gone.
    }
  };
  return {
    kill,
    stop(): void {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    },
    cancelPendingKill(): void {
      if (killTimer) clearTimeout(killTimer);
    },
  };
}

/** Stdout kept whole, up to a number of bytes. */
class StdoutBuffer {
  /** True once more than the limit arrived; nothing more is kept. */
  overflow = false;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Keeps the chunk; false (and {@link overflow} set) when it goes past the limit. */
  add(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      this.overflow = true;
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * Watches a started child until it closes: logs its output, stops its process group on a
 * timeout, an abort or too much stdout, and reports how it ended.
 */
function superviseChild(
  child: ChildProcess,
  file: string,
  opts: RunProcessOptions,
  log: RunLog,
  done: (ended: Omit<RunProcessResult, 'durationMs'>) => void,
): void {
  const errLines = lineSplitter(log, 'stderr');
  const outLines = opts.logStdout ? lineSplitter(log, 'stdout') : undefined;
  const group = processGroup(child);
  const stdout = new StdoutBuffer(opts.maxStdoutBytes ?? 32 * 1024 * 1024);
  let spawnError: string | undefined;
  let timedOut = false;
  let aborted = false;

  const timer = setTimeout(() => {
    timedOut = true;
    group.stop();
  }, opts.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    group.stop();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });

  child.stdout!.on('data', (chunk: Buffer) => {
    outLines?.push(chunk);
    if (!stdout.overflow && !stdout.add(chunk)) group.stop();
  });
  child.stderr!.on('data', (chunk: Buffer) => errLines.push(chunk));
  child.on('error', (err: NodeJS.ErrnoException) => {
    spawnError = err.code ? `${err.code}: cannot run ${file}` : `cannot run ${file}`;
  });
  child.on('close', (code, sig) => {
    clearTimeout(timer);
    // After a timeout or abort, members of the group may outlive the leader: finish them.
    if (timedOut || aborted || stdout.overflow) group.kill('SIGKILL');
    group.cancelPendingKill();
    opts.signal?.removeEventListener('abort', onAbort);
    errLines.flush();
    outLines?.flush();
    done({ exitCode: code, signal: sig, timedOut, aborted, spawnError, stdoutOverflow: stdout.overflow, stdout: stdout.text(), tail: log.tail });
  });
}

/** A one-line reason for a failed run: exit code, signal, timeout, abort, spawn error. */
export function describeFailure(r: RunProcessResult, timeoutMs: number): string | undefined {
  if (r.spawnError) return r.spawnError;
  if (r.timedOut) return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (r.aborted) return 'was stopped (the package lock was lost or the worker is shutting down)';
  if (r.stdoutOverflow) return 'printed more than the allowed amount of output';
  if (r.exitCode !== 0) return r.exitCode === null ? `was killed by ${r.signal ?? 'a signal'}` : `exited with code ${r.exitCode}`;
  return undefined;
}

export { excerptOf } from '../engine/provisioner-port.ts';
