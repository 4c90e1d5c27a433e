/**
 * Stack templates: a file in the repository (examples/stacks/*.yaml) naming a set of packages,
 * each of one bundle (a version, or the newest version carrying an attestation), their typed
 * connections (a consumer's connection -> the producer package whose artifact fills it), and the
 * questions asked once for all of them (each answer mapped into params of some packages).
 *
 * Read with zod at the edge; then checked against the registry: every bundle and version exists,
 * every package's params (with the questions' defaults) pass the bundle's params schema (ajv),
 * no connection cycle, and every connection joins artifacts of one type (the connection's `$ref`
 * is the producer's artifact definition), and no param it sets is a secret (a stack is stored
 * as written). A template that fails is refused with a {@link StackTemplateError} naming the
 * packages.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../engine/errors.ts';
import type { Bundle } from '../engine/model.ts';
import { sensitivePointers, type BundleRegistry } from '../engine/registry/index.ts';

const NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const questionSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    title: z.string().optional(),
    type: z.enum(['string', 'integer', 'boolean']).default('string'),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    /** Where the answer goes: `<package>.<param>`. */
    maps_to: z.array(z.string().regex(/^[a-z0-9-]+\.[a-z_][a-z0-9_]*$/)).min(1),
  })
  .strict();

const packageSchema = z
  .object({
    bundle: z.string().min(1),
    version: z.string().optional(),
    attestation: z.string().optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    /** Consumer connection name -> producer package (`db`) or package and artifact (`db.authentication`). */
    connections: z.record(z.string(), z.string().regex(/^[a-z0-9-]+(?:\.[a-z_][a-z0-9_]*)?$/)).default({}),
  })
  .strict();

/** The file as written (zod, at the edge). */
export const stackTemplateSchema = z
  .object({
    name: z.string().regex(NAME),
    description: z.string().optional(),
    project: z.string().regex(NAME),
    labels: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    questions: z.array(questionSchema).default([]),
    packages: z.record(z.string().regex(NAME), packageSchema).refine((p) => Object.keys(p).length > 0, 'a stack needs at least one package'),
  })
  .strict();

/** A stack template as written. */
export type StackTemplateFile = z.infer<typeof stackTemplateSchema>;

/** One connection of a stack package, resolved: the producer package and the artifact it hands over. */
export interface StackConnection {
  connection: string;
  producer: string;
  artifact: string;
  /** The artifact definition both ends speak. */
  type: string;
}

/** One package of a loaded template. */
export interface StackTemplatePackage {
  name: string;
  bundle: string;
  version?: string;
  attestation?: string;
  params: Record<string, unknown>;
  connections: StackConnection[];
}

/** A loaded, checked stack template; `packages` in dependency order (producers first). */
export interface StackTemplate {
  name: string;
  description?: string;
  project: string;
  labels: Record<string, string | number | boolean>;
  questions: StackTemplateFile['questions'];
  packages: StackTemplatePackage[];
  file: string;
}

/** A stack template refused at load (or a stack request refused): names the packages at fault. */
export class StackTemplateError extends UserError {
  constructor(
    message: string,
    readonly packages: string[] = [],
  ) {
    super('validation', message);
  }
}

/** `{{environment}}` and `{{environment_snake}}` in string params: the environment's name (hyphens or underscores). */
export function fillPlaceholders(params: Record<string, unknown>, environment: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    out[k] = typeof v === 'string' ? v.replace(/\{\{\s*environment_snake\s*\}\}/g, environment.replace(/-/g, '_')).replace(/\{\{\s*environment\s*\}\}/g, environment) : v;
  }
  return out;
}

/**
 * Each package's params: the template's, then the questions' answers (or defaults) mapped in,
 * placeholders filled for `environment`. An unknown question in `answers` is refused.
 */
export function stackParams(t: Pick<StackTemplate, 'questions' | 'packages'>, answers: Record<string, unknown>, environment: string): Record<string, Record<string, unknown>> {
  const known = new Set(t.questions.map((q) => q.name));
  const unknown = Object.keys(answers).filter((k) => !known.has(k));
  if (unknown.length) throw new StackTemplateError(`unknown question(s) ${unknown.join(', ')}; this stack asks: ${[...known].join(', ') || 'nothing'}`);
  const out: Record<string, Record<string, unknown>> = {};
  for (const p of t.packages) out[p.name] = { ...p.params };
  for (const q of t.questions) {
    const raw = answers[q.name] ?? q.default;
    if (raw === undefined) throw new StackTemplateError(`question ${q.name} needs an answer (--${q.name} <value>)`);
    const value = q.type === 'integer' ? Number(raw) : q.type === 'boolean' ? raw === true || raw === 'true' : String(raw);
    for (const target of q.maps_to) {
      const [pkg, param] = target.split('.') as [string, string];
      out[pkg]![param] = value;
    }
  }
  for (const p of t.packages) out[p.name] = fillPlaceholders(out[p.name]!, environment);
  return out;
}

/** Producers before consumers; a cycle is refused naming the packages on it. */
function dependencyOrder(file: StackTemplateFile): string[] {
  const names = Object.keys(file.packages);
  const producersOf = (n: string) => Object.values(file.packages[n]!.connections).map((c) => c.split('.')[0]!);
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, path: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(n)), n];
      throw new StackTemplateError(`stack ${file.name}: connection cycle ${cycle.join(' -> ')}`, [...new Set(cycle)]);
    }
    state.set(n, 'visiting');
    for (const p of producersOf(n)) visit(p, [...path, n]);
    state.set(n, 'done');
    order.push(n);
  };
  for (const n of names.sort()) visit(n, []);
  return order;
}

/** The bundle a template package names (its version, else the newest), or an error naming the package. */
function bundleOf(registry: BundleRegistry, name: string, p: StackTemplateFile['packages'][string]): Bundle {
  try {
    return registry.get(p.bundle, p.version);
  } catch {
    throw new StackTemplateError(`package ${name}: ${p.version ? `${p.bundle} has no version ${p.version}` : `unknown bundle ${p.bundle}`}`, [name]);
  }
}

/** Resolves package `name`'s connections, refusing an unknown producer, connection or artifact, or mismatched types. */
function connectionsOf(registry: BundleRegistry, file: StackTemplateFile, name: string, bundles: Map<string, Bundle>): StackConnection[] {
  const consumer = bundles.get(name)!;
  const out: StackConnection[] = [];
  for (const [connection, target] of Object.entries(file.packages[name]!.connections)) {
    const [producer, named] = target.split('.') as [string, string | undefined];
    const want = consumer.connectionTypes[connection];
    if (!want) throw new StackTemplateError(`package ${name}: ${consumer.name} has no connection "${connection}"`, [name]);
    const from = bundles.get(producer);
    if (!from) throw new StackTemplateError(`package ${name}: connection ${connection} names ${producer}, which is not a package of this stack`, [name, producer]);
    const artifact = named ?? Object.keys(from.artifactTypes).find((a) => from.artifactTypes[a] === want) ?? Object.keys(from.artifactTypes)[0];
    const have = artifact ? from.artifactTypes[artifact] : undefined;
    if (!artifact || !have || have !== want) {
      const offers = Object.entries(from.artifactTypes).map(([a, t]) => `${a} (${t})`).join(', ') || 'no artifact';
      throw new StackTemplateError(`connection ${name}.${connection} -> ${producer}: ${name} (${consumer.name}) accepts ${want}, but ${producer} (${from.name}) produces ${offers}`, [name, producer]);
    }
    registry.checkConnection(consumer, connection, have);
    out.push({ connection, producer, artifact, type: have });
  }
  return out;
}

/** Checks template `file` against `registry` (see the module comment); the loaded template. */
export function checkStackTemplate(file: StackTemplateFile, registry: BundleRegistry, path = file.name): StackTemplate {
  const order = dependencyOrder(file);
  const bundles = new Map(order.map((n) => [n, bundleOf(registry, n, file.packages[n]!)]));
  for (const q of file.questions) {
    for (const target of q.maps_to) {
      const pkg = target.split('.')[0]!;
      if (!file.packages[pkg]) throw new StackTemplateError(`question ${q.name} maps to ${target}, but ${pkg} is not a package of this stack`, [pkg]);
    }
  }
  const packages = order.map((name): StackTemplatePackage => {
    const p = file.packages[name]!;
    return { name, bundle: p.bundle, ...(p.version ? { version: p.version } : {}), ...(p.attestation ? { attestation: p.attestation } : {}), params: p.params, connections: connectionsOf(registry, file, name, bundles) };
  });
  const template: StackTemplate = { name: file.name, ...(file.description ? { description: file.description } : {}), project: file.project, labels: file.labels, questions: file.questions, packages, file: path };
  // The params with every default, for an environment named like a preview: each passes its bundle's schema.
  const params = stackParams(template, {}, 'preview-check');
  for (const p of packages) {
    // A stack is stored as written (its params, its answers): it never carries a secret.
    const secret = sensitivePointers(bundles.get(p.name)!.params).find((ptr) => ptr.split('/')[1]! in params[p.name]!);
    if (secret) throw new StackTemplateError(`package ${p.name}: ${secret} is a secret of ${p.bundle}; a stack template does not set secrets`, [p.name]);
    const issues = registry.validateParams(bundles.get(p.name)!, params[p.name]);
    if (issues.length) throw new StackTemplateError(`package ${p.name}: params ${issues.map((i) => `${i.pointer || '/'} ${i.message}`).join('; ')}`, [p.name]);
  }
  return template;
}

/** Parses and checks the template text `text` (YAML) read from `path`. */
export function parseStackTemplate(text: string, registry: BundleRegistry, path: string): StackTemplate {
  const parsed = stackTemplateSchema.safeParse(parseYaml(text));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new StackTemplateError(`stack template ${path}: ${problems}`);
  }
  return checkStackTemplate(parsed.data, registry, path);
}

/** Every `*.yaml` template in `dir`, by name (a missing directory: none). */
export async function loadStackTemplates(dir: string, registry: BundleRegistry): Promise<Map<string, StackTemplate>> {
  const out = new Map<string, StackTemplate>();
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const f of files.filter((x) => /\.ya?ml$/.test(x)).sort()) {
    const t = parseStackTemplate(await readFile(join(dir, f), 'utf8'), registry, f);
    out.set(t.name, t);
  }
  return out;
}
