import { dirname, join, relative, resolve as resolvePath, sep, isAbsolute } from 'node:path';
import type { FieldIssue } from '../errors.ts';
import type { JsonSchema } from '../model.ts';
import { getAtPointer, isObject, joinPointer } from './json-pointer.ts';
import { parseSource, readSource, type SourceFile } from './source-file.ts';

/** What a `$ref` string points at. */
export type RefTarget =
  /** `#/...` inside the current document. */
  | { kind: 'local'; fragment: string }
  /** A file on disk (`./x.json`, `../y.yaml#/defs/z`), resolved against the referencing file. */
  | { kind: 'file'; location: string; fragment: string }
  /** An http(s) document, read from the schema mirror (or the network when allowed). */
  | { kind: 'url'; location: string; fragment: string }
  /** An artifact definition by name: `massdriver/x`, `x` or `org/x`. */
  | { kind: 'definition'; name: string };

// A bare name (no extension, no leading dot or slash) is an artifact definition: Massdriver's
// own refs are `massdriver/aws-vpc`, the 2026 catalog writes `virtual-network`.
const DEFINITION_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/;
const FILE_EXTENSION = /\.(json|ya?ml)$/i;

/** True when `location` is an http(s) URL rather than a file path. */
export function isUrl(location: string): boolean {
  return /^https?:\/\//i.test(location);
}

/** Classifies a `$ref` relative to the document it appears in (`base`: file path or URL). */
export function classifyRef(ref: string, base: string): RefTarget {
  if (ref.startsWith('#')) return { kind: 'local', fragment: ref.slice(1) };
  const hash = ref.indexOf('#');
  const target = hash >= 0 ? ref.slice(0, hash) : ref;
  const fragment = hash >= 0 ? ref.slice(hash + 1) : '';
  if (isUrl(target)) return { kind: 'url', location: target, fragment };
  if (hash < 0 && DEFINITION_NAME.test(ref) && !FILE_EXTENSION.test(ref)) return { kind: 'definition', name: ref };
  if (isUrl(base)) return { kind: 'url', location: new URL(target, base).href, fragment };
  return { kind: 'file', location: resolvePath(dirname(base), target), fragment };
}

/**
 * The name an artifact-definition document declares, or `undefined` when the document is a
 * plain schema: Massdriver JSON definitions carry `$md.name`; v2 resource types
 * (`resource-types/x/massdriver.yaml`) carry `name` beside a `schema` object.
 */
export function definitionNameOf(doc: unknown): string | undefined {
  if (!isObject(doc)) return undefined;
  const md = doc.$md;
  if (isObject(md) && typeof md.name === 'string' && md.name) return md.name;
  if (isResourceType(doc)) return (doc as Record<string, unknown>).name as string;
  return undefined;
}

/** True for a v2 resource-type document: `name` + a `schema` object, and nothing that makes a bundle. */
export function isResourceType(doc: unknown): boolean {
  return (
    isObject(doc) &&
    typeof doc.name === 'string' &&
    isObject(doc.schema) &&
    !('params' in doc) &&
    !('steps' in doc) &&
    !('connections' in doc) &&
    !('artifacts' in doc)
  );
}

/** Where the schema of a whole document starts: `/schema` for resource types, the root otherwise. */
export function schemaRootOf(doc: unknown): { value: unknown; pointer: string } {
  if (isResourceType(doc)) return { value: (doc as Record<string, unknown>).schema, pointer: '/schema' };
  return { value: doc, pointer: '' };
}

/** How the resolver reaches artifact definitions; implemented by the registry. */
export interface DefinitionLookup {
  /** Canonical name for `massdriver/x`, `x` or `org/x`, or `undefined` when unknown. */
  canonical(name: string): string | undefined;
  /** The resolved schema of a canonical definition, plus the problems found resolving it. */
  resolved(canonical: string, stack: string[]): Promise<{ schema?: JsonSchema; issues: FieldIssue[] }>;
}

/** Options of a {@link RefResolver}. */
export interface RefResolverOptions {
  definitions: DefinitionLookup;
  /** Folder holding copies of remote schemas: `https://host/path` is read from `<mirror>/host/path`. */
  schemaMirror?: string;
  /** Fetch remote schemas missing from the mirror. Off unless asked for. */
  allowNetwork?: boolean;
  /** Fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Shared cache of parsed documents, so one load reads every file once. */
  cache?: Map<string, Promise<SourceFile>>;
}

/** Where the walk currently is. */
export interface WalkContext {
  /** File path or URL of the document being walked. */
  location: string;
  /** Candidate roots for `#...` refs, tried in order (the schema itself, then the whole file). */
  roots: { value: unknown; pointer: string }[];
  /** Pointer of the current node inside the document at `location`. */
  pointer: string;
  /** Refs being resolved right now, to detect cycles. */
  stack: string[];
}

// Values under these keys are data, not schemas: a `$ref` inside an example is not followed.
const DATA_KEYWORDS = new Set(['examples', 'default', 'const', 'enum', '$comment', 'description', 'title']);

/**
 * Replaces every `$ref` in a schema by the schema it names, merging the ref's sibling keys
 * (for example a `title`) onto the result. Problems are collected in {@link issues}, each with
 * the file and JSON pointer of the `$ref`; an unresolvable ref is dropped (its siblings kept)
 * so that one bad ref yields one issue, not a cascade.
 */
export class RefResolver {
  /** Problems found so far. */
  readonly issues: FieldIssue[] = [];
  private readonly seen = new Set<string>();
  private readonly cache: Map<string, Promise<SourceFile>>;

  constructor(private readonly options: RefResolverOptions) {
    this.cache = options.cache ?? new Map();
  }

  /** Records a problem once (the same broken ref reached twice is reported once). */
  report(issue: FieldIssue): void {
    const key = `${issue.file ?? ''}\0${issue.pointer}\0${issue.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.issues.push(issue);
  }

  /** Resolves every `$ref` under `value`. */
  async resolve(value: unknown, ctx: WalkContext): Promise<unknown> {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) out.push(await this.resolve(value[i], { ...ctx, pointer: joinPointer(ctx.pointer, i) }));
      return out;
    }
    if (!isObject(value)) return value;
    if (typeof value.$ref === 'string') return this.resolveRefNode(value, ctx);
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      out[key] = DATA_KEYWORDS.has(key) ? child : await this.resolve(child, { ...ctx, pointer: joinPointer(ctx.pointer, key) });
    }
    return out;
  }

  /** Loads a document by path or URL (mirror first, network only when allowed); cached. */
  loadDocument(location: string): Promise<SourceFile> {
    let p = this.cache.get(location);
    if (!p) {
      p = isUrl(location) ? this.loadRemote(location) : readSource(location);
      this.cache.set(location, p);
    }
    return p;
  }

  /**
   * The canonical artifact definition a `$ref` names, if it names one: a definition name, or a
   * file whose document is an artifact definition (JSON with `$md.name`, or a resource type).
   */
  async definitionOf(ref: string, base: string): Promise<string | undefined> {
    const target = classifyRef(ref, base);
    if (target.kind === 'definition') return this.options.definitions.canonical(target.name);
    if ((target.kind === 'file' || target.kind === 'url') && target.fragment.replace(/^\//, '') === '') {
      const src = await this.loadDocument(target.location);
      return definitionNameOf(src.data);
    }
    return undefined;
  }

  private async resolveRefNode(node: Record<string, unknown>, ctx: WalkContext): Promise<unknown> {
    const ref = node.$ref as string;
    const siblings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) if (k !== '$ref') siblings[k] = v;
    const resolvedSiblings = (await this.resolve(siblings, ctx)) as Record<string, unknown>;
    const target = await this.resolveRef(ref, ctx);
    if (target === undefined) return resolvedSiblings;
    if (!isObject(target)) return Object.keys(resolvedSiblings).length ? resolvedSiblings : target;
    return { ...target, ...resolvedSiblings };
  }

  private async resolveRef(ref: string, ctx: WalkContext): Promise<unknown> {
    const refPointer = joinPointer(ctx.pointer, '$ref');
    const fail = (why: string): undefined => {
      this.report({ file: ctx.location, pointer: refPointer, message: `cannot resolve $ref "${ref}": ${why}` });
      return undefined;
    };
    let target: RefTarget;
    try {
      target = classifyRef(ref, ctx.location);
    } catch {
      return fail('not a valid reference');
    }

    if (target.kind === 'definition') {
      const canonical = this.options.definitions.canonical(target.name);
      if (!canonical) return fail(`unknown artifact definition "${target.name}"`);
      const key = `artifact-definition:${canonical}`;
      if (ctx.stack.includes(key)) return fail(`reference cycle (${[...ctx.stack, key].join(' → ')})`);
      const { schema, issues } = await this.options.definitions.resolved(canonical, [...ctx.stack, key]);
      for (const issue of issues) this.report(issue);
      if (!schema) return fail(`artifact definition "${canonical}" could not be resolved`);
      return stripDocumentKeys(schema, true);
    }

    if (target.kind === 'local') {
      for (const root of ctx.roots) {
        const value = getAtPointer(root.value, target.fragment);
        if (value === undefined) continue;
        const at = root.pointer + normalizeFragment(target.fragment);
        const key = `${ctx.location}#${at}`;
        if (ctx.stack.includes(key)) return fail(`reference cycle (${[...ctx.stack, key].map(shortKey).join(' → ')})`);
        return this.resolve(value, { ...ctx, pointer: at, stack: [...ctx.stack, key] });
      }
      return fail(`"#${target.fragment}" does not exist in this document`);
    }

    const src = await this.loadDocument(target.location);
    if (src.issues.length > 0 || src.data === undefined) {
      const why = src.issues.find((i) => i.line === undefined && i.pointer === '')?.message ?? 'the referenced document is malformed';
      // Parse errors inside the target are reported against the target, with their line.
      for (const issue of src.issues) if (issue.line !== undefined) this.report(issue);
      return fail(`${why} (${describeLocation(target.location, ctx.location)})`);
    }
    const fragment = normalizeFragment(target.fragment);
    const whole = fragment === '';
    const root = schemaRootOf(src.data);
    const roots = whole ? [root, { value: src.data, pointer: '' }] : [{ value: src.data, pointer: '' }, root];
    let value: unknown;
    let at = '';
    for (const r of roots) {
      value = whole ? r.value : getAtPointer(r.value, fragment);
      at = r.pointer + fragment;
      if (value !== undefined) break;
    }
    if (value === undefined) return fail(`"#${target.fragment}" does not exist in ${describeLocation(target.location, ctx.location)}`);
    const key = `${target.location}#${at}`;
    if (ctx.stack.includes(key)) return fail(`reference cycle (${[...ctx.stack, key].map(shortKey).join(' → ')})`);
    const resolved = await this.resolve(value, {
      location: target.location,
      roots: [root, { value: src.data, pointer: '' }],
      pointer: at,
      stack: [...ctx.stack, key],
    });
    return isObject(resolved) ? stripDocumentKeys(resolved, whole) : resolved;
  }

  private async loadRemote(url: string): Promise<SourceFile> {
    const { schemaMirror, allowNetwork } = this.options;
    const problem = (message: string): SourceFile => ({ file: url, data: undefined, issues: [{ file: url, pointer: '', message }], lineOf: () => undefined });
    if (schemaMirror) {
      const u = new URL(url);
      const mirrorRoot = resolvePath(schemaMirror);
      const local = join(mirrorRoot, u.host, decodeURIComponent(u.pathname));
      // A crafted URL must not read files outside the mirror.
      if (local !== mirrorRoot && !local.startsWith(mirrorRoot + sep)) return problem('URL escapes the schema mirror');
      const src = await readSource(local);
      const missing = src.issues.length === 1 && src.issues[0]?.message === 'file not found';
      if (!missing) return src;
      if (!allowNetwork) return problem('not in the schema mirror and network access is disabled');
    } else if (!allowNetwork) {
      return problem('no schema mirror is configured and network access is disabled');
    }
    const fetchImpl = this.options.fetch ?? fetch;
    try {
      const res = await fetchImpl(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) return problem(`download failed with HTTP ${res.status}`);
      return parseSource(url, await res.text());
    } catch (err) {
      return problem(`download failed: ${(err as Error).message}`);
    }
  }
}

function normalizeFragment(fragment: string): string {
  const f = decodeURIComponent(fragment);
  if (f === '' || f === '/') return '';
  return f.startsWith('/') ? f : `/${f}`;
}

function shortKey(key: string): string {
  const [loc, frag] = key.split('#');
  if (!loc || isUrl(loc) || !isAbsolute(loc)) return key;
  return `${loc.split(sep).slice(-2).join('/')}#${frag ?? ''}`;
}

function describeLocation(target: string, from: string): string {
  if (isUrl(target) || isUrl(from)) return target;
  return relative(dirname(from), target) || target;
}

/**
 * `$schema` and `$id` mean nothing once a document is inlined (and a second `$id` would clash
 * in ajv); a whole definition's `$md` block (icons, base64 instructions) stays with the
 * definition rather than being copied into every bundle that connects to it.
 */
function stripDocumentKeys(schema: Record<string, unknown>, whole: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$schema' || k === '$id') continue;
    if (whole && k === '$md' && isObject(v)) continue;
    out[k] = v;
  }
  return out;
}
