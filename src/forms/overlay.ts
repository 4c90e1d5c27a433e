/**
 * Form overlays: forms/<bundle>.yaml, the ops author's say over which questions a ticket asks.
 * Parsed with the `yaml` package so that every problem can name its line; checked against
 * {@link OVERLAY_SCHEMA} with ajv, then against the bundle by build-form.ts.
 */
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, type Node as YamlNode } from 'yaml';
import type { ErrorObject } from 'ajv';
import type { Json } from '../engine/model.ts';
import type { FieldIssue } from '../engine/errors.ts';
import { createAjv, pruneBranchErrors } from './ajv.ts';
import { OVERLAY_SCHEMA } from './overlay-schema.ts';
import { OverlayError } from './errors.ts';
import { parsePointer } from './json-pointer.ts';
import type { DynamicOptionSource, RequestFieldName } from './model.ts';

/** A static option as an overlay writes it. */
export interface OverlayOption {
  value: Json;
  label?: string;
}

/** One entry of an overlay's `fields:` list: a param, or a request-level question. */
export interface OverlayField {
  param?: string;
  request?: RequestFieldName;
  label?: string;
  help?: string;
  placeholder?: string;
  required?: boolean;
  immutable?: boolean;
  default?: Json;
  widget?: string;
  options?: DynamicOptionSource | OverlayOption[];
}

/** The overlay document, as validated against {@link OVERLAY_SCHEMA}. */
export interface OverlayDoc {
  bundle: string;
  title?: string;
  description?: string;
  presets?: boolean | string[];
  others?: 'ask' | 'omit';
  fields?: OverlayField[];
  fixed?: Record<string, Json>;
  sections?: Record<string, { title?: string; description?: string }>;
}

/** A parsed overlay that still knows where each of its keys was written. */
export interface Overlay {
  doc: OverlayDoc;
  /** File name used in messages. */
  file: string;
  /** 1-based line of the key at `path` (or of its nearest written ancestor). */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

// Compiled once: the overlay schema is a constant.
const validateOverlayDoc = createAjv().compile(OVERLAY_SCHEMA);

/** Plain-words message for one ajv error of an overlay. */
function overlayMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `missing key "${String(p.missingProperty)}"`;
    case 'additionalProperties':
      return `unknown key "${String(p.additionalProperty)}"`;
    case 'enum':
      return `must be one of: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'type':
      return `must be ${String(p.type)}`;
    case 'pattern':
      return 'must be a JSON pointer such as /storage/allocated';
    case 'propertyNames':
      return 'keys must be JSON pointers such as /zone';
    case 'oneOf':
      return 'does not match any accepted shape';
    default:
      return e.message ?? e.keyword;
  }
}

/** Human path for messages: `fields[2].options.source`. */
export function displayPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out || '(top level)';
}

function pathOfInstance(instancePath: string): (string | number)[] {
  return parsePointer(instancePath).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/**
 * Parses overlay text. Throws {@link OverlayError} listing every problem with its line: YAML
 * syntax, and anything the overlay schema refuses (unknown keys, wrong types, bad pointers).
 */
export function parseOverlay(text: string, file: string): Overlay {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;

  if (document.errors.length > 0) {
    throw new OverlayError(
      file,
      document.errors.map((e) => ({ pointer: '', file, line: lineAt(e.pos[0]), message: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }

  const lineOf = (path: readonly (string | number)[]): number | undefined => {
    let node: unknown = document.contents;
    let line = node && (node as YamlNode).range ? lineAt((node as YamlNode).range![0]) : undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        const key = pair.key as YamlNode;
        if (key.range) line = lineAt(key.range[0]);
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as YamlNode | undefined;
        if (!item) break;
        if (item.range) line = lineAt(item.range[0]);
        node = item;
      } else break;
    }
    return line;
  };

  const data = document.toJS({ maxAliasCount: 100 }) as unknown;
  const validate = validateOverlayDoc;
  if (!validate(data)) {
    // `if` errors only say "the then-branch failed" (its errors are reported), and a bad key
    // under propertyNames is reported once by the propertyNames error itself.
    const errors = pruneBranchErrors(validate.errors ?? []).filter((e) => e.keyword !== 'if' && !e.schemaPath.includes('/propertyNames/'));
    const issues: FieldIssue[] = errors.map((e) => {
      const path = pathOfInstance(e.instancePath);
      const p = e.params as Record<string, unknown>;
      const keyPath = e.keyword === 'additionalProperties' ? [...path, String(p.additionalProperty)] : path;
      const where = e.keyword === 'propertyNames' && typeof p.propertyName === 'string' ? [...path, p.propertyName] : keyPath;
      return { pointer: e.instancePath, field: displayPath(where), file, line: lineOf(where), message: overlayMessage(e) };
    });
    throw new OverlayError(file, dedupe(issues));
  }
  return { doc: data as OverlayDoc, file, lineOf };
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.line}|${i.field}|${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Reads and parses an overlay file. */
export async function loadOverlay(file: string): Promise<Overlay> {
  return parseOverlay(await readFile(file, 'utf8'), file);
}

/** Path of the overlay for `bundle` in `formsDir` (`<bundle>.yaml` or `.yml`), or undefined. */
export async function findOverlayFile(formsDir: string, bundle: string): Promise<string | undefined> {
  for (const ext of ['yaml', 'yml']) {
    const candidate = join(formsDir, `${bundle}.${ext}`);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // not there: try the next spelling
    }
  }
  return undefined;
}
