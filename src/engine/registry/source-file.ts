import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { isAlias, isMap, isSeq, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { FieldIssue } from '../errors.ts';
import { splitPointer } from './json-pointer.ts';

/**
 * A parsed YAML or JSON file that still knows where things are: any JSON pointer into it can be
 * turned back into a 1-based line, so bundle problems point at the line a person must edit.
 */
export interface SourceFile {
  /** Path (or URL) the text came from. */
  file: string;
  /** The parsed value (aliases expanded, `<<` merge keys applied). `undefined` when parsing failed. */
  data: unknown;
  /** Parse problems; non-empty means `data` must not be trusted. */
  issues: FieldIssue[];
  /** 1-based line of the deepest existing node on `pointer`, when known. */
  lineOf(pointer: string): number | undefined;
}

/** True when a file name looks like YAML rather than JSON. */
export function isYamlName(name: string): boolean {
  const ext = extname(name.split('#')[0] ?? '').toLowerCase();
  return ext === '.yaml' || ext === '.yml';
}

/**
 * Parses `text` as YAML (JSON is valid YAML, so `.json` files go through the same parser and
 * keep line numbers). Merge keys (`<<: *anchor`) are enabled because the Go YAML library
 * Massdriver uses accepts them.
 */
export function parseSource(file: string, text: string): SourceFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: true, uniqueKeys: true });
  const issues: FieldIssue[] = doc.errors.map((e) => {
    const line = e.linePos?.[0]?.line;
    // yaml's message repeats the offending source lines after the first line; drop them so a
    // value on that line never travels into an error report.
    const first = e.message.split('\n')[0] ?? e.message;
    return { file, pointer: '', line, message: `malformed ${isYamlName(file) ? 'YAML' : 'JSON/YAML'}: ${first}` };
  });
  let data: unknown;
  if (issues.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      issues.push({ file, pointer: '', message: `cannot read document: ${(err as Error).message}` });
    }
  }
  return { file, data, issues, lineOf: (pointer) => lineOfPointer(doc, lineCounter, pointer) };
}

/** Reads and parses a file from disk; a missing file becomes an issue, not an exception. */
export async function readSource(file: string): Promise<SourceFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? 'error'})`;
    return { file, data: undefined, issues: [{ file, pointer: '', message }], lineOf: () => undefined };
  }
  return parseSource(file, text);
}

function lineOfPointer(doc: Document, lc: LineCounter, pointer: string): number | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined = rangeStart(node);
  for (const token of splitPointer(pointer)) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === token);
      if (!pair) break;
      offset = rangeStart(pair.key) ?? rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = /^\d+$/.test(token) ? node.items[Number(token)] : undefined;
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lc.linePos(offset).line;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? range[0] : undefined;
}
