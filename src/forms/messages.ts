/**
 * Plain words for validation failures, and the helpers that format a {@link FieldIssue} the way
 * a ticket shows it ("Storage (GiB): must be at least 20 (you entered 2)").
 */
import type { ErrorObject } from 'ajv';
import type { FieldIssue } from '../engine/errors.ts';
import type { FieldOption, FieldType } from './model.ts';

/** How a value is echoed back to the person: short, and never for sensitive fields. */
export function echo(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  if (s === undefined) return '';
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function youEntered(value: unknown, sensitive: boolean): string {
  if (sensitive || value === undefined) return '';
  return ` (you entered ${echo(value)})`;
}

const FORMAT_WORDS: Record<string, string> = {
  date: 'must be a date such as 2026-01-31',
  'date-time': 'must be a date and time such as 2026-01-31T09:30:00Z',
  time: 'must be a time such as 09:30:00',
  email: 'must be an email address',
  'idn-email': 'must be an email address',
  uri: 'must be a full URL such as https://example.com',
  url: 'must be a full URL such as https://example.com',
  'uri-reference': 'must be a URL or a path',
  ipv4: 'must be an IPv4 address such as 10.0.0.2',
  ipv6: 'must be an IPv6 address',
  hostname: 'must be a host name such as app.example.com',
  uuid: 'must be a UUID',
};

const TYPE_WORDS: Record<string, string> = {
  integer: 'must be a whole number',
  number: 'must be a number',
  boolean: 'must be yes or no',
  string: 'must be text',
  array: 'must be a list',
  object: 'must be an object (JSON such as {"key": "value"})',
  null: 'must be empty',
};

/** Words for a type mismatch found while reading an answer (before schema validation). */
export function typeWords(type: FieldType | 'integer' | 'number' | 'string'): string {
  switch (type) {
    case 'integer':
      return TYPE_WORDS.integer;
    case 'number':
      return TYPE_WORDS.number;
    case 'boolean':
      return TYPE_WORDS.boolean;
    case 'date':
      return FORMAT_WORDS.date;
    case 'datetime':
      return FORMAT_WORDS['date-time'];
    default:
      return TYPE_WORDS.string;
  }
}

/** Lists option labels for a message, shortening long lists. */
export function listChoices(options: readonly FieldOption[] | undefined, values?: readonly unknown[]): string {
  const labels = options?.length ? options.map((o) => o.label) : (values ?? []).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  if (labels.length <= 8) return labels.join(', ');
  return `${labels.slice(0, 8).join(', ')} (and ${labels.length - 8} more)`;
}

/** What the message builder knows about the field an error belongs to. */
export interface MessageContext {
  options?: readonly FieldOption[];
  patternMessage?: string;
  /** Never echo the value. */
  sensitive: boolean;
  /** Label of the property a `dependencies` error hangs on. */
  dependencyLabel?: string;
}

/** Plain words for one ajv error. `value` is the offending value (the data at the error's instance path). */
export function plainMessage(e: ErrorObject, value: unknown, ctx: MessageContext): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return 'required';
    case 'dependencies':
    case 'dependentRequired':
      return ctx.dependencyLabel ? `required when ${ctx.dependencyLabel} is answered` : 'required';
    case 'minimum':
      return `must be at least ${p.limit}${youEntered(value, ctx.sensitive)}`;
    case 'exclusiveMinimum':
      return `must be more than ${p.limit}${youEntered(value, ctx.sensitive)}`;
    case 'maximum':
      return `must be at most ${p.limit}${youEntered(value, ctx.sensitive)}`;
    case 'exclusiveMaximum':
      return `must be less than ${p.limit}${youEntered(value, ctx.sensitive)}`;
    case 'multipleOf':
      return `must be a multiple of ${p.multipleOf}${youEntered(value, ctx.sensitive)}`;
    case 'minLength':
      return `must be at least ${p.limit} character${p.limit === 1 ? '' : 's'} long`;
    case 'maxLength':
      return `must be at most ${p.limit} character${p.limit === 1 ? '' : 's'} long`;
    case 'pattern':
      return ctx.patternMessage ?? `does not have the expected format (pattern ${p.pattern})`;
    case 'format':
      return FORMAT_WORDS[String(p.format)] ?? `must be a valid ${p.format}`;
    case 'type':
      return TYPE_WORDS[String(p.type).split(',')[0]] ?? `must be ${p.type}`;
    case 'enum':
      return `must be one of: ${listChoices(ctx.options, p.allowedValues as unknown[])}${youEntered(value, ctx.sensitive)}`;
    case 'const':
      return `must be ${listChoices(ctx.options?.filter((o) => JSON.stringify(o.value) === JSON.stringify(p.allowedValue)), [p.allowedValue])}`;
    case 'oneOf':
    case 'anyOf':
      return ctx.options?.length
        ? `must be one of: ${listChoices(ctx.options)}${youEntered(value, ctx.sensitive)}`
        : 'does not fit any of the allowed combinations';
    case 'minItems':
      return `needs at least ${p.limit} ${p.limit === 1 ? 'entry' : 'entries'}`;
    case 'maxItems':
      return `allows at most ${p.limit} ${p.limit === 1 ? 'entry' : 'entries'}`;
    case 'uniqueItems':
      return 'must not list the same entry twice';
    case 'additionalProperties':
      return `has an unknown key "${p.additionalProperty}"`;
    case 'propertyNames':
      return `has a key that is not allowed ("${p.propertyName}")`;
    case 'not':
      return 'is not allowed';
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

/** "Storage (GiB): must be at least 20 (you entered 2)". */
export function describeIssue(issue: FieldIssue): string {
  return issue.field ? `${issue.field}: ${issue.message}` : issue.pointer ? `${issue.pointer}: ${issue.message}` : issue.message;
}
