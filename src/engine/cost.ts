/**
 * Monthly cost estimates from a bundle's cost model (top-level `cost:` key of massdriver.yaml):
 *
 * ```yaml
 * cost:
 *   currency: USD            # default USD
 *   base: 12.5               # fixed monthly amount
 *   per:                     # + value of a numeric param x rate
 *     - param: allocated_storage_gb
 *       rate: 0.115
 *   add:                     # + amount when a condition holds
 *     - when: { param: backups, equals: true }
 *       amount: 4
 *   multiply:                # x factor when a condition holds (applied last, in order)
 *     - when: { param: high_availability, equals: true }
 *       factor: 2
 * ```
 *
 * `param` is a top-level param name, a dotted path (`storage.size_gb`) or a JSON pointer
 * (`/storage/size_gb`). A param the package does not set falls back to the schema's `default`,
 * then to 0 / false. A condition holds when the value `equals` the given one, is one of `in`, or
 * is within `gte`/`lte`. Results are rounded to cents.
 */
import { z } from 'zod';
import { BundleError } from './errors.ts';
import type { Bundle } from './model.ts';

const ConditionSchema = z
  .object({
    param: z.string().min(1),
    equals: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    in: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
    gte: z.number().optional(),
    lte: z.number().optional(),
  })
  .strict();

/** Zod schema of a bundle's `cost:` block. */
export const CostModelSchema = z
  .object({
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter currency code').default('USD'),
    base: z.number().nonnegative().default(0),
    per: z.array(z.object({ param: z.string().min(1), rate: z.number(), unit: z.string().optional() }).strict()).default([]),
    add: z.array(z.object({ when: ConditionSchema, amount: z.number() }).strict()).default([]),
    multiply: z.array(z.object({ when: ConditionSchema, factor: z.number().nonnegative() }).strict()).default([]),
  })
  .strict();

/** A validated cost model. */
export type CostModel = z.infer<typeof CostModelSchema>;
/** One condition of a cost model. */
export type CostCondition = z.infer<typeof ConditionSchema>;

/** Reads a bundle's cost model; `undefined` when it declares none. A malformed one is a {@link BundleError} naming the field. */
export function parseCostModel(bundle: Pick<Bundle, 'raw' | 'file'>): CostModel | undefined {
  const raw = bundle.raw?.cost;
  if (raw === undefined || raw === null) return undefined;
  const parsed = CostModelSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BundleError(
      `${bundle.file}: invalid cost model`,
      parsed.error.issues.map((i) => ({ pointer: `/cost${i.path.length ? '/' + i.path.join('/') : ''}`, message: i.message, file: bundle.file })),
    );
  }
  return parsed.data;
}

function pathTokens(param: string): string[] {
  if (param.startsWith('/')) return param.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
  return param.split('.');
}

function lookup(root: unknown, tokens: string[]): unknown {
  let cur = root;
  for (const t of tokens) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[t];
  }
  return cur;
}

/** The value of a param, falling back to the params schema's `default`. */
function paramValue(bundle: Pick<Bundle, 'params'>, params: Record<string, unknown>, param: string): unknown {
  const tokens = pathTokens(param);
  const v = lookup(params, tokens);
  if (v !== undefined) return v;
  let schema: unknown = bundle.params;
  for (const t of tokens) schema = lookup(schema, ['properties', t]);
  return schema && typeof schema === 'object' ? (schema as Record<string, unknown>).default : undefined;
}

function holds(cond: CostCondition, value: unknown): boolean {
  if (cond.equals !== undefined && value !== cond.equals) return false;
  if (cond.in !== undefined && !cond.in.includes(value as never)) return false;
  if (cond.gte !== undefined && !(typeof value === 'number' && value >= cond.gte)) return false;
  if (cond.lte !== undefined && !(typeof value === 'number' && value <= cond.lte)) return false;
  return cond.equals !== undefined || cond.in !== undefined || cond.gte !== undefined || cond.lte !== undefined
    ? true
    : Boolean(value);
}

/** Rounds to cents. */
function cents(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * The monthly cost of a package of `bundle` with `params`, from the bundle's cost model; 0 when
 * the bundle declares none. A `per` param that is set but not a number is a {@link BundleError}.
 */
export function estimateMonthlyCost(bundle: Pick<Bundle, 'raw' | 'file' | 'params'>, params: Record<string, unknown>): number {
  const model = parseCostModel(bundle);
  if (!model) return 0;
  let total = model.base;
  model.per.forEach((p, i) => {
    const v = paramValue(bundle, params, p.param);
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new BundleError(`${bundle.file}: cost model uses a param that is not a number`, [
        { pointer: `/cost/per/${i}/param`, message: `param "${p.param}" is not a number`, file: bundle.file },
      ]);
    }
    total += v * p.rate;
  });
  for (const a of model.add) if (holds(a.when, paramValue(bundle, params, a.when.param))) total += a.amount;
  for (const m of model.multiply) if (holds(m.when, paramValue(bundle, params, m.when.param))) total *= m.factor;
  return cents(Math.max(0, total));
}

/** A change of monthly cost, as a plan shows it. */
export interface CostDelta {
  before: number;
  after: number;
  /** after - before, rounded to cents. */
  delta: number;
  /** `+$38.40/month`, `-$12.00/month`, `±$0`. */
  text: string;
}

/** Formats an amount of money (`$38.40` for USD, `38.40 EUR` otherwise). */
export function formatMoney(amount: number, currency = 'USD'): string {
  const abs = Math.abs(amount).toFixed(2);
  return currency === 'USD' ? `$${abs}` : `${abs} ${currency}`;
}

/** The cost change between two estimates (a missing estimate counts as 0: nothing exists yet / any more). */
export function costDelta(before: number | undefined, after: number | undefined, currency = 'USD'): CostDelta {
  const b = cents(before ?? 0);
  const a = cents(after ?? 0);
  const delta = cents(a - b);
  const text = delta === 0 ? (currency === 'USD' ? '±$0' : `±0 ${currency}`) : `${delta > 0 ? '+' : '-'}${formatMoney(delta, currency)}/month`;
  return { before: b, after: a, delta, text };
}
