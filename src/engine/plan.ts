/**
 * The one plan format: Terraform/OpenTofu machine-readable plan JSON (`tofu show -json`), whatever
 * provisioner made it. This module validates such a document, derives the plan summary every
 * surface renders (adds, changes, destroys, replacements, per resource address, destructive
 * actions flagged) and a stable plan hash an approval is bound to.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DeploymentFailedError } from './errors.ts';
import type { PlanResourceChange, PlanSummary } from './model.ts';

/** The actions Terraform/OpenTofu may list for one resource change. */
export const PLAN_ACTIONS = ['no-op', 'create', 'read', 'update', 'delete', 'forget'] as const;

const ChangeSchema = z.looseObject({
  actions: z.array(z.enum(PLAN_ACTIONS)).min(1),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  after_unknown: z.unknown().optional(),
  before_sensitive: z.unknown().optional(),
  after_sensitive: z.unknown().optional(),
  replace_paths: z.unknown().optional(),
});

const ResourceChangeSchema = z.looseObject({
  address: z.string().min(1),
  module_address: z.string().optional(),
  mode: z.string().optional(),
  type: z.string(),
  name: z.string(),
  index: z.union([z.number(), z.string()]).optional(),
  provider_name: z.string().optional(),
  action_reason: z.string().optional(),
  change: ChangeSchema,
});

/** Zod schema of the parts of plan JSON the engine reads; other fields are kept as they are. */
export const PlanJsonSchema = z.looseObject({
  format_version: z.string().regex(/^\d+\.\d+$/, 'must look like "1.2"'),
  terraform_version: z.string().optional(),
  resource_changes: z.array(ResourceChangeSchema).optional(),
  output_changes: z.record(z.string(), z.looseObject({ actions: z.array(z.string()) })).optional(),
  timestamp: z.string().optional(),
});

/** A validated plan JSON document. */
export type PlanJson = z.infer<typeof PlanJsonSchema>;
/** One `resource_changes[]` entry of a plan. */
export type PlanJsonResourceChange = z.infer<typeof ResourceChangeSchema>;

/** Options for {@link parsePlanJson}. */
export interface ParsePlanOptions {
  /** The step that printed the plan; named in the error. */
  step: string;
  /** Redacted excerpt of the step's output, attached to the error. */
  excerpt?: string;
}

/**
 * Parses and validates plan JSON (text or an already parsed value). A malformed plan fails the
 * deployment: the error names the step and the JSON pointer of each problem, never a value.
 */
export function parsePlanJson(input: string | unknown, opts: ParsePlanOptions): PlanJson {
  let doc: unknown = input;
  if (typeof input === 'string') {
    const text = input.trim();
    if (text === '') {
      throw new DeploymentFailedError(opts.step, `step ${opts.step} printed no plan JSON on stdout`, opts.excerpt ?? '');
    }
    try {
      doc = JSON.parse(text);
    } catch (err) {
      // JSON.parse messages quote a few characters of the input: keep only the position part.
      const where = /position \d+/.exec(String((err as Error).message))?.[0];
      throw new DeploymentFailedError(
        opts.step,
        `step ${opts.step} printed malformed plan JSON (not JSON${where ? ` at ${where}` : ''})`,
        opts.excerpt ?? '',
      );
    }
  }
  const parsed = PlanJsonSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? '/' + i.path.join('/') : '(root)'}: ${i.message}`)
      .join('; ');
    throw new DeploymentFailedError(opts.step, `step ${opts.step} printed malformed plan JSON: ${problems}`, opts.excerpt ?? '');
  }
  return parsed.data;
}

/**
 * Classifies one action list. `["delete","create"]` (destroy then create) and
 * `["create","delete"]` (create_before_destroy) are both replacements and destructive: the old
 * object and its data go away. `forget` (a `removed` block) drops the object from state without
 * touching it, so it counts as a change, not a destroy.
 */
export function classifyActions(actions: readonly string[]): { action: PlanResourceChange['action'] | 'no-op'; destructive: boolean } {
  const set = new Set(actions);
  if (set.has('delete') && set.has('create')) return { action: 'replace', destructive: true };
  if (set.has('delete')) return { action: 'destroy', destructive: true };
  if (set.has('create')) return { action: 'add', destructive: false };
  if (set.has('update') || set.has('forget')) return { action: 'change', destructive: false };
  if (set.has('read')) return { action: 'read', destructive: false };
  return { action: 'no-op', destructive: false };
}

/** Derives the plan summary (counts per action, resource list without no-ops, destructive flag). */
export function summarizePlan(plan: PlanJson): PlanSummary {
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, resources: [], destructive: false };
  for (const rc of plan.resource_changes ?? []) {
    const { action, destructive } = classifyActions(rc.change.actions);
    if (action === 'no-op') continue;
    if (action !== 'read') summary[action] += 1;
    summary.resources.push({ address: rc.address, type: rc.type, name: rc.name, actions: [...rc.change.actions], action, destructive });
    if (destructive) summary.destructive = true;
  }
  summary.resources.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return summary;
}

/** JSON with object keys sorted at every level, so equal data always gives equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * A stable sha256 (hex) of what a plan would do: the non-no-op resource changes (address,
 * actions, before, after, unknowns, reason), sorted by address, as canonical JSON. Timestamps,
 * tool versions, key order and the order of `resource_changes` do not change it; a different
 * value, action or resource does.
 */
export function planHash(plan: PlanJson): string {
  const changes = (plan.resource_changes ?? [])
    .filter((rc) => classifyActions(rc.change.actions).action !== 'no-op')
    .map((rc) => ({
      address: rc.address,
      actions: rc.change.actions,
      before: rc.change.before ?? null,
      after: rc.change.after ?? null,
      after_unknown: rc.change.after_unknown ?? null,
      action_reason: rc.action_reason ?? null,
    }))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return createHash('sha256').update(`plan-v1\n${canonicalJson(changes)}`).digest('hex');
}

/** The plan of one step, as kept while a deployment runs. */
export interface StepPlan {
  /** Step path (the step's folder). */
  step: string;
  summary: PlanSummary;
  hash: string;
}

/**
 * Combines the plans of a bundle's steps into one summary and hash. With one step the result is
 * that step's own summary and hash; with several, resource addresses are prefixed with
 * `<step>:` (two steps may both have `null_resource.x`) and the hash covers every step in order.
 */
export function combineStepPlans(plans: readonly StepPlan[]): { summary: PlanSummary; hash: string } {
  if (plans.length === 1) return { summary: plans[0].summary, hash: plans[0].hash };
  const summary: PlanSummary = { add: 0, change: 0, destroy: 0, replace: 0, resources: [], destructive: false };
  for (const p of plans) {
    summary.add += p.summary.add;
    summary.change += p.summary.change;
    summary.destroy += p.summary.destroy;
    summary.replace += p.summary.replace;
    summary.destructive ||= p.summary.destructive;
    for (const r of p.summary.resources) summary.resources.push({ ...r, address: `${p.step}:${r.address}` });
  }
  const hash = createHash('sha256')
    .update(`plan-steps-v1\n${canonicalJson(plans.map((p) => ({ step: p.step, hash: p.hash })))}`)
    .digest('hex');
  return { summary, hash };
}
