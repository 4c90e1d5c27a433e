/**
 * Runs one child process for a provisioner or a scanner: no shell unless the bundle author wrote
 * a shell string, its own process group (so a timeout kills everything it started), stdout kept
 * whole for the machine-readable answer, stderr turned into redacted log lines as it arrives.
 */
import { spawn } from 'node:child_process';
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
  const maxStdout = opts.maxStdoutBytes ?? 32 * 1024 * 1024;
  const tail: string[] = [];
  const stdoutChunks: Buffer[] = [];
  let stdoutBytes = 0;
  let stdoutOverflow = false;
  let timedOut = false;
  let aborted = false;

  const emit = (stream: StepLogLine['stream'], raw: string): void => {
    const line = opts.redactor.redactText(raw.replace(/\r$/, ''));
    tail.push(stream === 'stdout' ? line : `${stream}: ${line}`);
    if (tail.length > TAIL_LINES) tail.shift();
    opts.onLog?.({ at: opts.clock.now().toISOString(), stream, line });
  };
  const lineSplitter = (stream: 'stdout' | 'stderr') => {
    let buf = '';
    return {
      push(chunk: Buffer) {
        buf += chunk.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          emit(stream, buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        // A line without a newline for a very long time is still logged, in pieces.
        if (buf.length > 16_384) {
          emit(stream, buf);
          buf = '';
        }
      },
      flush() {
        if (buf.length) emit(stream, buf);
        buf = '';
      },
    };
  };

  return new Promise((resolve) => {
    if (!file) {
      resolve({
        exitCode: null, signal: null, timedOut: false, aborted: false, spawnError: 'empty command', stdoutOverflow: false,
        stdout: '', tail, durationMs: 0,
      });
      return;
    }
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const errLines = lineSplitter('stderr');
    const outLines = opts.logStdout ? lineSplitter('stdout') : undefined;
    let spawnError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const killGroup = (sig: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // The group is already gone.
      }
    };
    const stop = (): void => {
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (chunk: Buffer) => {
      outLines?.push(chunk);
      if (stdoutOverflow) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdout) {
        stdoutOverflow = true;
        stop();
        return;
      }
      stdoutChunks.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => errLines.push(chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err.code ? `${err.code}: cannot run ${file}` : `cannot run ${file}`;
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      // After a timeout or abort, members of the group may outlive the leader: finish them.
      if (timedOut || aborted || stdoutOverflow) killGroup('SIGKILL');
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      errLines.flush();
      outLines?.flush();
      resolve({
        exitCode: code,
        signal: sig,
        timedOut,
        aborted,
        spawnError,
        stdoutOverflow,
        stdout: Buffer.concat(stdoutChunks).toString('utf8'),
        tail,
        durationMs: Date.now() - started,
      });
    });
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
