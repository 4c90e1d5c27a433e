import { isAbsolute, relative } from 'node:path';
import type { FieldIssue } from '../../engine/errors.ts';

/** Where the CLI writes and what it reads from its process; tests pass buffers. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The process's own stdout, stderr, environment and working directory. */
export const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  env: process.env,
  cwd: process.cwd(),
};

/** Prints `value` as indented JSON with `--json`, else the text `text()` makes. */
export function print(io: CliIo, json: boolean, value: unknown, text: () => string): void {
  io.out(json ? JSON.stringify(value, null, 2) : text());
}

/** A file as a person would type it: relative when it is under `cwd`, else absolute. */
function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return !rel || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

/** One problem as `file:line#pointer field: message`, the file relative to the working directory when under it. */
export function issueLine(i: FieldIssue, cwd: string): string {
  const where = i.file ? `${shownPath(i.file, cwd)}${i.line ? `:${i.line}` : ''}` : '';
  const ptr = i.pointer !== undefined ? `#${i.pointer}` : '';
  const label = i.field ? `${i.field}: ` : '';
  return `${where}${ptr} ${label}${i.message}`.trim();
}
