import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError, SystemError, ValidationError, type FieldIssue } from '../errors.ts';
import type { ArtifactDefinition, Bundle, BundleStep, JsonSchema } from '../model.ts';
import { isObject, joinPointer } from './json-pointer.ts';
import { classifyRef, definitionNameOf, isResourceType, RefResolver, schemaRootOf, type DefinitionLookup } from './ref-resolver.ts';
import { SchemaValidator } from './schema-validator.ts';
import { compareSemver, isSemver } from './semver.ts';
import { sensitivePointers } from './sensitive.ts';
import { readSource, type SourceFile } from './source-file.ts';

/** Where the registry looks for bundles and artifact definitions. */
export interface BundleRegistryOptions {
  /** Folders scanned recursively for `massdriver.yaml` bundles. */
  bundlePaths: string[];
  /**
   * Folders scanned recursively for artifact definitions: Massdriver JSON definitions (a
   * top-level `$md.name`) and v2 resource types (`massdriver.yaml` with `name` + `schema`).
   * They win over the project's own `contracts/artifact-definitions/` on a name clash.
   */
  artifactDefinitionPaths: string[];
  /** Folder with copies of remote schemas: `https://host/path` is read from `<mirror>/host/path`. */
  schemaMirror?: string;
  /** Download remote `$ref`s missing from the mirror. Off by default: nothing leaves the machine. */
  allowNetwork?: boolean;
  /** Fetch implementation for `allowNetwork` (defaults to the global `fetch`). */
  fetch?: typeof fetch;
}

/** Result of loading one bundle folder. */
export interface BundleLoadResult {
  /** The bundle, present only when it loaded without any problem. */
  bundle?: Bundle;
  /** Every problem found, each with `file`, `pointer` and (in massdriver.yaml) `line`. */
  issues: FieldIssue[];
}

interface DefinitionEntry {
  name: string;
  aliases: string[];
  label?: string;
  file: string;
  source: SourceFile;
  resolved?: Promise<{ schema?: JsonSchema; issues: FieldIssue[] }>;
  /** Set once resolved and checked without problems. */
  definition?: ArtifactDefinition;
}

const BUNDLE_FILES = ['massdriver.yaml', 'massdriver.yml'];
const SKIP_DIRS = new Set(['node_modules', '.git', '.terraform']);
const BUNDLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The bundle registry: loads `massdriver.yaml` bundles of every Massdriver format era and
 * artifact definitions, resolves their `$ref`s, lints them, and validates params and artifacts
 * against them. Call {@link loadAll} before the lookups; it can be called again to reload.
 */
export class BundleRegistry {
  private readonly options: BundleRegistryOptions;
  private readonly validator = new SchemaValidator();
  private bundles = new Map<string, Map<string, Bundle>>();
  private definitions = new Map<string, DefinitionEntry>();
  private aliases = new Map<string, string>();
  private docCache = new Map<string, Promise<SourceFile>>();
  private definitionsLoaded?: Promise<FieldIssue[]>;
  private readonly lookup: DefinitionLookup;

  constructor(options: BundleRegistryOptions) {
    this.options = { ...options, bundlePaths: [...options.bundlePaths], artifactDefinitionPaths: [...options.artifactDefinitionPaths] };
    this.lookup = {
      canonical: (name) => this.canonicalDefinitionName(name),
      resolved: (name, stack) => this.resolveDefinition(name, stack),
    };
  }

  /** The project's own artifact definitions folder (`contracts/artifact-definitions/`). */
  static builtinDefinitionsDir(): string {
    return fileURLToPath(new URL('../../../contracts/artifact-definitions/', import.meta.url));
  }

  // -------------------------------------------------------------------------------------------
  // Loading

  /**
   * (Re)loads every artifact definition and every bundle under `bundlePaths`. Returns every
   * problem found; bundles with problems are left out of the registry, the rest load.
   */
  async loadAll(): Promise<FieldIssue[]> {
    this.definitionsLoaded = undefined;
    const issues = [...(await this.ensureDefinitions())];
    const bundles = new Map<string, Map<string, Bundle>>();
    for (const root of this.options.bundlePaths) {
      const files = await findFiles(root, (name) => BUNDLE_FILES.includes(name), issues, 'bundle folder');
      for (const file of files) {
        const src = await readSource(file);
        // Resource types share the file name but are artifact definitions, not bundles.
        if (src.issues.length === 0 && isResourceType(src.data)) continue;
        const { bundle, issues: found } = await this.loadBundleSource(src);
        issues.push(...found);
        if (!bundle) continue;
        const versions = bundles.get(bundle.name) ?? new Map<string, Bundle>();
        const existing = versions.get(bundle.version);
        if (existing) {
          issues.push({
            file: bundle.file,
            pointer: '/version',
            line: src.lineOf('/version'),
            message: `bundle ${bundle.name}@${bundle.version} is also defined in ${existing.file}; this copy is ignored`,
          });
          continue;
        }
        versions.set(bundle.version, bundle);
        bundles.set(bundle.name, versions);
      }
    }
    this.bundles = bundles;
    return issues;
  }

  /**
   * Loads one bundle folder (or its massdriver.yaml) without registering it. Artifact
   * definitions are loaded first if {@link loadAll} has not run.
   */
  async loadBundle(dir: string): Promise<BundleLoadResult> {
    await this.ensureDefinitions();
    let file = resolvePath(dir);
    if (!BUNDLE_FILES.includes(basename(file))) {
      file = join(file, BUNDLE_FILES[0]!);
      for (const name of BUNDLE_FILES) {
        if (await isFile(join(dir, name))) {
          file = resolvePath(dir, name);
          break;
        }
      }
    }
    return this.loadBundleSource(await readSource(file));
  }

  /** Every problem of the bundle in `dir` (empty when it is fine to publish). */
  async lint(dir: string): Promise<FieldIssue[]> {
    const { issues } = await this.loadBundle(dir);
    return issues;
  }

  // -------------------------------------------------------------------------------------------
  // Bundles

  /** Every loaded bundle version, by name then newest version first. */
  list(): Bundle[] {
    return [...this.bundles.keys()].sort().flatMap((name) => this.versions(name).map((v) => this.bundles.get(name)!.get(v)!));
  }

  /** Versions of a bundle, newest first; empty when the bundle is unknown. */
  versions(name: string): string[] {
    const versions = this.bundles.get(name);
    return versions ? [...versions.keys()].sort((a, b) => compareSemver(b, a)) : [];
  }

  /**
   * A bundle version; the newest when `version` is omitted. `name@version` is accepted too.
   * @throws NotFoundError `bundle` or `bundle version`
   */
  get(name: string, version?: string): Bundle {
    if (version === undefined && name.includes('@')) [name, version] = name.split('@', 2) as [string, string];
    const versions = this.bundles.get(name);
    if (!versions) throw new NotFoundError('bundle', name);
    const v = version ?? this.versions(name)[0]!;
    const bundle = versions.get(v);
    if (!bundle) throw new NotFoundError('bundle version', `${name}@${v}`);
    return bundle;
  }

  /** Checks params against the bundle's `params` schema; empty when valid. */
  validateParams(bundle: Bundle, params: unknown): FieldIssue[] {
    return this.validator.validate(bundle.params, params);
  }

  /**
   * Throws a {@link ValidationError} unless an artifact of `artifactDefinitionName` may be
   * plugged into the bundle's connection `connectionName`.
   */
  checkConnection(bundle: Bundle, connectionName: string, artifactDefinitionName: string): void {
    const expected = bundle.connectionTypes[connectionName];
    const props = isObject(bundle.connections.properties) ? bundle.connections.properties : {};
    const schema = props[connectionName];
    const field = isObject(schema) && typeof schema.title === 'string' ? schema.title : connectionName;
    const pointer = joinPointer('', connectionName);
    if (!expected) {
      throw new ValidationError(`bundle ${bundle.name}@${bundle.version} has no connection "${connectionName}"`, [
        { pointer, field, message: 'is not a connection of this bundle' },
      ]);
    }
    const actual = this.canonicalDefinitionName(artifactDefinitionName) ?? stripOrg(artifactDefinitionName);
    if (actual !== expected) {
      throw new ValidationError(`connection "${connectionName}" of ${bundle.name}@${bundle.version} accepts ${expected} artifacts, not ${actual}`, [
        { pointer, field, message: `must be a ${expected} artifact, not ${actual}` },
      ]);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Artifact definitions

  /**
   * An artifact definition by `massdriver/x`, `x` or `org/x`.
   * @throws NotFoundError `artifact definition`
   */
  artifactDefinition(name: string): ArtifactDefinition {
    this.requireDefinitions();
    const canonical = this.canonicalDefinitionName(name);
    const def = canonical ? this.definitions.get(canonical)?.definition : undefined;
    if (!def) throw new NotFoundError('artifact definition', name);
    return def;
  }

  /** Every artifact definition that loaded cleanly, by name. */
  listArtifactDefinitions(): ArtifactDefinition[] {
    this.requireDefinitions();
    return [...this.definitions.values()]
      .flatMap((e) => (e.definition ? [e.definition] : []))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Canonical name for `massdriver/x`, `x` or `org/x`; `undefined` when unknown. */
  canonicalDefinitionName(name: string): string | undefined {
    return this.aliases.get(name) ?? (name.includes('/') ? this.aliases.get(stripOrg(name)) : undefined);
  }

  /** Checks artifact data against its definition; empty when valid. Values never appear in messages. */
  validateArtifact(definitionName: string, data: unknown): FieldIssue[] {
    return this.validator.validate(this.artifactDefinition(definitionName).schema, data);
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private requireDefinitions(): void {
    if (!this.definitionsLoaded) throw new SystemError('the bundle registry is not loaded yet: call loadAll() first');
  }

  private ensureDefinitions(): Promise<FieldIssue[]> {
    this.definitionsLoaded ??= this.loadDefinitions();
    return this.definitionsLoaded;
  }

  private async loadDefinitions(): Promise<FieldIssue[]> {
    this.definitions = new Map();
    this.aliases = new Map();
    this.docCache = new Map();
    const issues: FieldIssue[] = [];
    const dirs = [...this.options.artifactDefinitionPaths, BundleRegistry.builtinDefinitionsDir()];
    for (const dir of dirs) {
      const files = await findFiles(dir, (name) => /\.(json|ya?ml)$/i.test(name), issues, 'artifact definition folder');
      for (const file of files) {
        const source = await this.resolver().loadDocument(file);
        if (source.issues.length > 0) {
          issues.push(...source.issues);
          continue;
        }
        const name = definitionNameOf(source.data);
        // Plain schemas (types/, specs/) live beside definitions; they are reached by $ref only.
        if (!name || this.definitions.has(name)) continue;
        const doc = source.data as Record<string, unknown>;
        const md = isObject(doc.$md) ? doc.$md : {};
        const root = schemaRootOf(doc).value;
        const label = [md.label, doc.label, isObject(root) ? root.title : undefined].find((l): l is string => typeof l === 'string');
        const aliases = [name, `massdriver/${stripOrg(name)}`].filter((a, i, all) => all.indexOf(a) === i);
        this.definitions.set(name, { name, aliases, label, file, source });
        for (const alias of aliases) if (!this.aliases.has(alias)) this.aliases.set(alias, name);
      }
    }
    // Resolve in a fixed order so reports are stable; each definition's problems once.
    for (const entry of [...this.definitions.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const { schema, issues: found } = await this.resolveDefinition(entry.name, [`artifact-definition:${entry.name}`]);
      issues.push(...found.filter((i) => !issues.some((j) => j.file === i.file && j.pointer === i.pointer && j.message === i.message)));
      if (schema && found.length === 0) {
        entry.definition = {
          name: entry.name,
          aliases: entry.aliases,
          label: entry.label,
          schema,
          sensitivePointers: sensitivePointers(schema),
          file: entry.file,
        };
      }
    }
    return issues;
  }

  private resolveDefinition(name: string, stack: string[]): Promise<{ schema?: JsonSchema; issues: FieldIssue[] }> {
    const entry = this.definitions.get(name);
    if (!entry) return Promise.resolve({ issues: [] });
    entry.resolved ??= (async () => {
      const resolver = this.resolver();
      const root = schemaRootOf(entry.source.data);
      const resolved = await resolver.resolve(root.value, {
        location: entry.file,
        roots: [root, { value: entry.source.data, pointer: '' }],
        pointer: root.pointer,
        stack,
      });
      const issues = [...resolver.issues];
      if (!isObject(resolved)) {
        issues.push({ file: entry.file, pointer: root.pointer, message: 'artifact definition schema must be a JSON Schema object' });
        return { issues };
      }
      issues.push(...this.validator.check(resolved, root.pointer, entry.file));
      for (const i of issues) if (i.file === entry.file && i.line === undefined) i.line = entry.source.lineOf(i.pointer);
      return { schema: resolved as JsonSchema, issues };
    })();
    return entry.resolved;
  }

  /**
   * A resolver sharing `cache`. Definitions share one cache per load; each bundle load gets a
   * fresh one so that `lint` sees files edited since the last call.
   */
  private resolver(cache: Map<string, Promise<SourceFile>> = this.docCache): RefResolver {
    return new RefResolver({
      definitions: this.lookup,
      schemaMirror: this.options.schemaMirror,
      allowNetwork: this.options.allowNetwork,
      fetch: this.options.fetch,
      cache,
    });
  }

  /** Reads one massdriver.yaml: every problem comes back as an issue with its file and line. */
  private async loadBundleSource(src: SourceFile): Promise<BundleLoadResult> {
    const file = src.file;
    if (src.issues.length > 0) return { issues: src.issues };
    const doc = src.data;
    const issues: FieldIssue[] = [];
    const finish = (): BundleLoadResult => {
      for (const i of issues) if (i.file === file && i.line === undefined) i.line = src.lineOf(i.pointer);
      return { issues };
    };
    if (!isObject(doc)) {
      issues.push({ file, pointer: '', message: 'massdriver.yaml must be a mapping of keys (name, params, connections, ...)' });
      return finish();
    }
    if (isResourceType(doc)) {
      issues.push({ file, pointer: '', message: 'this is a resource type (an artifact definition), not a bundle; list its folder in the artifact definition paths' });
      return finish();
    }

    const { name, version } = readBundleHeader(doc, file, issues);
    const resolver = this.resolver(new Map());
    const { params, connections, artifacts } = await this.resolveBundleSchemas(doc, file, resolver, issues);
    const connectionTypes = await this.typesOf(doc, 'connections', resolver, file, issues);
    const artifactTypes = await this.typesOf(doc, 'artifacts', resolver, file, issues);
    const steps = readSteps(doc.steps, file, issues);
    const { ui, app } = readUiAndApp(doc, file, issues);
    if (issues.length > 0) return finish();

    const bundle: Bundle = {
      name: name as string,
      version,
      ...(typeof doc.description === 'string' ? { description: doc.description } : {}),
      dir: resolvePath(file, '..'),
      file,
      // Copies: resolved schemas share sub-trees with artifact definitions and other bundles.
      params: structuredClone(params),
      connections: structuredClone(connections),
      artifacts: structuredClone(artifacts),
      ui,
      steps,
      ...(app ? { app } : {}),
      connectionTypes,
      artifactTypes,
      raw: doc,
    };
    return { bundle, issues: [] };
  }

  /** The bundle's params, connections and artifacts schemas with their refs resolved, then checked. */
  private async resolveBundleSchemas(
    doc: Record<string, unknown>,
    file: string,
    resolver: RefResolver,
    issues: FieldIssue[],
  ): Promise<{ params: JsonSchema; connections: JsonSchema; artifacts: JsonSchema }> {
    const section = async (key: 'params' | 'connections' | 'artifacts'): Promise<JsonSchema> => {
      const raw = doc[key];
      if (raw === undefined || raw === null) return { type: 'object', properties: {} };
      if (!isObject(raw)) {
        issues.push({ file, pointer: `/${key}`, message: `${key} must be a JSON Schema object` });
        return { type: 'object', properties: {} };
      }
      const resolved = await resolver.resolve(raw, {
        location: file,
        roots: [{ value: raw, pointer: `/${key}` }, { value: doc, pointer: '' }],
        pointer: `/${key}`,
        stack: [],
      });
      return resolved as JsonSchema;
    };
    const params = await section('params');
    const connections = await section('connections');
    const artifacts = await section('artifacts');
    issues.push(...resolver.issues);
    // Schema checks only make sense once refs resolved; a dropped ref would be reported twice.
    if (!resolver.issues.some((i) => i.file === file)) {
      issues.push(...this.validator.check(params, '/params', file));
      issues.push(...this.validator.check(connections, '/connections', file));
      issues.push(...this.validator.check(artifacts, '/artifacts', file));
    }
    return { params, connections, artifacts };
  }

  /** Connection/artifact name -> canonical artifact definition, checking each is a `$ref` to one. */
  private async typesOf(
    doc: Record<string, unknown>,
    key: 'connections' | 'artifacts',
    resolver: RefResolver,
    file: string,
    issues: FieldIssue[],
  ): Promise<Record<string, string>> {
    const types: Record<string, string> = {};
    const section = doc[key];
    if (!isObject(section) || section.properties === undefined) return types;
    if (!isObject(section.properties)) {
      issues.push({ file, pointer: `/${key}/properties`, message: `${key}.properties must be a mapping` });
      return types;
    }
    const what = key === 'connections' ? 'connection' : 'artifact';
    for (const [name, prop] of Object.entries(section.properties)) {
      const pointer = joinPointer(`/${key}/properties`, name);
      if (!isObject(prop) || typeof prop.$ref !== 'string') {
        issues.push({ file, pointer, message: `${what} "${name}" must be a $ref to an artifact definition` });
        continue;
      }
      const ref = prop.$ref;
      const definition = await resolver.definitionOf(ref, file);
      if (definition) {
        types[name] = this.canonicalDefinitionName(definition) ?? definition;
        continue;
      }
      // An unknown definition name was already reported by the resolver.
      if (classifyRef(ref, file).kind === 'definition') continue;
      issues.push({ file, pointer: joinPointer(pointer, '$ref'), message: `${what} "${name}": $ref "${ref}" is not an artifact definition` });
    }
    return types;
  }
}

/** A bundle's name and version (0.0.0 when absent), checked, and its description's type. */
function readBundleHeader(doc: Record<string, unknown>, file: string, issues: FieldIssue[]): { name: unknown; version: string } {
  const add = (pointer: string, message: string): void => {
    issues.push({ file, pointer, message });
  };
  const name = doc.name;
  if (name === undefined || name === null || name === '') add('/name', 'missing bundle name');
  else if (typeof name !== 'string' || !BUNDLE_NAME.test(name)) add('/name', 'bundle name must be letters, digits, dots, dashes or underscores');

  let version = '0.0.0';
  if (doc.version !== undefined && doc.version !== null) {
    version = String(doc.version);
    if (!isSemver(version)) add('/version', `version "${version}" is not a semantic version such as 1.2.3`);
  }
  if (doc.description !== undefined && typeof doc.description !== 'string') add('/description', 'description must be text');
  return { name, version };
}

/** The bundle's `ui` schema and `app` block, each a mapping when present. */
function readUiAndApp(doc: Record<string, unknown>, file: string, issues: FieldIssue[]): { ui: JsonSchema; app?: Record<string, unknown> } {
  let ui: JsonSchema = {};
  if (doc.ui !== undefined && doc.ui !== null) {
    if (isObject(doc.ui)) ui = doc.ui as JsonSchema;
    else issues.push({ file, pointer: '/ui', message: 'ui must be a mapping' });
  }
  let app: Record<string, unknown> | undefined;
  if (doc.app !== undefined && doc.app !== null) {
    if (isObject(doc.app)) app = doc.app;
    else issues.push({ file, pointer: '/app', message: 'app must be a mapping' });
  }
  return { ui, app };
}

function readSteps(raw: unknown, file: string, issues: FieldIssue[]): BundleStep[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.push({ file, pointer: '/steps', message: 'steps must be a list' });
    return [];
  }
  const steps: BundleStep[] = [];
  raw.forEach((s, i) => {
    const pointer = `/steps/${i}`;
    if (!isObject(s)) {
      issues.push({ file, pointer, message: 'each step must be a mapping with path and provisioner' });
      return;
    }
    if (typeof s.path !== 'string' || !s.path) issues.push({ file, pointer: `${pointer}/path`, message: 'step path is missing' });
    if (typeof s.provisioner !== 'string' || !s.provisioner) issues.push({ file, pointer: `${pointer}/provisioner`, message: 'step provisioner is missing' });
    if (s.config !== undefined && s.config !== null && !isObject(s.config)) issues.push({ file, pointer: `${pointer}/config`, message: 'step config must be a mapping' });
    steps.push({
      path: String(s.path ?? ''),
      provisioner: String(s.provisioner ?? ''),
      ...(typeof s.skip_on_delete === 'boolean' ? { skip_on_delete: s.skip_on_delete } : {}),
      ...(isObject(s.config) ? { config: s.config } : {}),
    });
  });
  return steps;
}

function stripOrg(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash >= 0 ? name.slice(slash + 1) : name;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Files under `root` (sorted, depth first) whose name passes `accept`; a missing root is an issue. */
async function findFiles(root: string, accept: (name: string) => boolean, issues: FieldIssue[], what: string): Promise<string[]> {
  const out: string[] = [];
  const abs = resolvePath(root);
  try {
    const s = await stat(abs);
    if (s.isFile()) return accept(basename(abs)) ? [abs] : [];
  } catch {
    issues.push({ file: abs, pointer: '', message: `${what} not found` });
    return out;
  }
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) await walk(join(dir, e.name));
      } else if (e.isFile() && accept(e.name)) {
        out.push(join(dir, e.name));
      }
    }
  };
  await walk(abs);
  return out;
}
