/**
 * The three-way merge of a drift check, per field: base = the params last applied, desired =
 * the data model's params, observed = what reality holds. Pure functions, no I/O: the caller
 * (src/workflow/drift.ts) resolves who owns each field and what policy decides.
 *
 * | observed vs base | desired vs base | class                                   |
 * |------------------|-----------------|-----------------------------------------|
 * | same             | any             | in_sync (a pending edit is not drift)   |
 * | differs          | same            | drifted: reality changed, desired not   |
 * | differs          | = observed      | in_sync: both moved to the same value   |
 * | differs          | differs         | both_sides: always asks, never guesses  |
 *
 * Resource attributes no param models are `reality_only`: they cannot be adopted (the bundle
 * has no field for them), so policy may revert them or a person is asked.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './plan.ts';
import type { DriftClass, DriftFinding, DriftProposal, FieldOwner } from './model.ts';

/** What policy would do on its own for a drifted field. */
export type AutomaticChoice = 'adopt' | 'revert' | 'ask';

/** One field the bundle models, as the merge needs it. */
export interface MergeField {
  name: string;
  label: string;
  owner: FieldOwner;
}

/** Everything one merge reads. */
export interface MergeInput {
  fields: readonly MergeField[];
  base: Record<string, unknown>;
  desired: Record<string, unknown>;
  /** Params reality was read for; a param left out counts as unchanged since the apply. */
  observed: Record<string, unknown>;
  /** Resource address -> attribute -> value, for what no param models. */
  attributes: Record<string, Record<string, unknown>>;
  /** Policy's choice for a field (a param name, or `<address>.<attribute>`) with its owner. */
  choose: (field: string, owner: FieldOwner) => AutomaticChoice;
  /** The previous check's findings, to keep when each drift was first seen. */
  previous?: readonly DriftFinding[];
  /** Field -> ISO instant an `ignore until` holds to. */
  ignored?: Record<string, string>;
  now: Date;
}

const same = (a: unknown, b: unknown): boolean => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/** How one param compares three ways (see the module table). */
export function classify(base: unknown, desired: unknown, observed: unknown): DriftClass {
  if (same(observed, base)) return 'in_sync';
  if (same(desired, base)) return 'drifted';
  return same(desired, observed) ? 'in_sync' : 'both_sides';
}

/** What is proposed for a finding of class `cls`: nothing in sync, always ask on both sides, else policy (adopt impossible for reality-only). */
export function propose(cls: DriftClass, choice: AutomaticChoice): DriftProposal {
  if (cls === 'in_sync') return 'none';
  if (cls === 'both_sides') return 'ask';
  if (cls === 'reality_only' && choice === 'adopt') return 'ask';
  return choice;
}

/** Every field's finding: params in the fields' order, then reality-only attributes by address. */
export function mergeDrift(input: MergeInput): DriftFinding[] {
  const at = input.now.toISOString();
  const since = new Map((input.previous ?? []).map((f) => [f.field, f.since]));
  const finish = (f: Omit<DriftFinding, 'proposal' | 'since'>, choice: AutomaticChoice): DriftFinding => {
    const until = input.ignored?.[f.field];
    const ignoring = until !== undefined && until > at && f.class !== 'in_sync';
    const open = f.class !== 'in_sync';
    return {
      ...f,
      proposal: ignoring ? 'none' : propose(f.class, choice),
      ...(open ? { since: since.get(f.field) ?? at } : {}),
      ...(ignoring ? { ignoredUntil: until } : {}),
    };
  };
  const out: DriftFinding[] = [];
  for (const field of input.fields) {
    const base = input.base[field.name];
    const observed = field.name in input.observed ? input.observed[field.name] : base;
    const cls = classify(base, input.desired[field.name], observed);
    const values = { lastApplied: base, desired: input.desired[field.name], observed };
    out.push(finish({ field: field.name, label: field.label, class: cls, owner: field.owner, ...values }, input.choose(field.name, field.owner)));
  }
  for (const [address, attrs] of Object.entries(input.attributes).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [attribute, value] of Object.entries(attrs)) {
      const field = `${address}.${attribute}`;
      out.push(finish({ field, label: field, class: 'reality_only', owner: 'ops', observed: value }, input.choose(field, 'ops')));
    }
  }
  return out;
}

/** The findings that need a decision or an automatic action (not in sync, not ignored). */
export function openFindings(findings: readonly DriftFinding[]): DriftFinding[] {
  return findings.filter((f) => f.class !== 'in_sync' && !f.ignoredUntil);
}

/**
 * Fingerprint of what a check found: the same open drift (fields, classes, values, proposals)
 * gives the same fingerprint, so seeing it again posts nothing new. Empty when nothing is open.
 */
export function driftFingerprint(findings: readonly DriftFinding[]): string {
  const open = openFindings(findings).map((f) => [f.field, f.class, f.proposal, f.lastApplied ?? null, f.desired ?? null, f.observed ?? null]);
  if (open.length === 0) return '';
  return createHash('sha256').update(canonicalJson(open)).digest('hex').slice(0, 16);
}
