import { parseArgs } from 'node:util';
import { ValidationError } from '../../engine/errors.ts';
import type { Labels } from '../../engine/model.ts';

/** The options any command may take, as typed after `ticket-surface` (read leniently: unknown ones are kept). */
const OPTIONS = {
  json: { type: 'boolean' },
  reveal: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  as: { type: 'string' },
  by: { type: 'string' },
  note: { type: 'string' },
  name: { type: 'string' },
  project: { type: 'string' },
  env: { type: 'string' },
  bundle: { type: 'string' },
  version: { type: 'string' },
  params: { type: 'string' },
  set: { type: 'string', multiple: true },
  label: { type: 'string', multiple: true },
  limit: { type: 'string' },
  state: { type: 'string' },
  surface: { type: 'string' },
  headers: { type: 'string' },
  overlay: { type: 'string' },
  format: { type: 'string' },
  values: { type: 'string' },
  'older-than': { type: 'string' },
  person: { type: 'string' },
  role: { type: 'string' },
  expires: { type: 'string' },
  all: { type: 'boolean' },
  reason: { type: 'string' },
  until: { type: 'string' },
} as const;

/** The options of one command line, read by name. */
export interface CliOptions {
  /** The value of `--k value`, or undefined when absent or given without a value. */
  str(k: string): string | undefined;
  /** Every value of a repeatable option (`--set a=1 --set b=2`). */
  list(k: string): string[];
  /** Whether `--k` was given as a flag (no value). */
  flag(k: string): boolean;
}

/** Splits a command line into its positional words and its options. */
export function parseCommandLine(argv: string[]): { positionals: string[]; options: CliOptions } {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false, options: OPTIONS });
  const raw = values as Record<string, unknown>;
  return {
    positionals,
    options: {
      str: (k) => (typeof raw[k] === 'string' ? (raw[k] as string) : undefined),
      list: (k) => (Array.isArray(raw[k]) ? (raw[k] as string[]) : []),
      flag: (k) => raw[k] === true,
    },
  };
}

/** Parses `--set a=1 --set b.c=true` into an object (values parsed as JSON when they parse). */
export function parseSets(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 1) throw new ValidationError(`--set ${s}: expected key=value`, [{ pointer: '', field: '--set', message: 'expected key=value' }]);
    const path = s.slice(0, eq).split('.');
    const raw = s.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let cur = out;
    path.slice(0, -1).forEach((k) => {
      cur[k] = (cur[k] as Record<string, unknown>) ?? {};
      cur = cur[k] as Record<string, unknown>;
    });
    cur[path[path.length - 1]!] = value;
  }
  return out;
}

/** Parses `--label production=true --label tier=2` into environment labels (booleans and numbers typed). */
export function parseLabels(labels: string[]): Labels {
  const out: Labels = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq < 1) throw new ValidationError(`--label ${l}: expected key=value`, [{ pointer: '/labels', field: '--label', message: 'expected key=value' }]);
    const v = l.slice(eq + 1);
    out[l.slice(0, eq)] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  return out;
}
