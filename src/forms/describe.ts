/**
 * Plain-words summaries of a question's rules, shared by every renderer's description / help
 * text ("Whole number from 20 to 16384, in steps of 10. Default: 20.").
 */
import type { FormField } from './model.ts';

function range(min: number | undefined, max: number | undefined, exMin?: number, exMax?: number): string {
  const lo = min !== undefined ? `from ${min}` : exMin !== undefined ? `more than ${exMin}` : '';
  const hi = max !== undefined ? (lo ? `to ${max}` : `up to ${max}`) : exMax !== undefined ? `${lo ? 'and ' : ''}less than ${exMax}` : '';
  return [lo, hi].filter(Boolean).join(' ');
}

function defaultText(f: FormField): string | undefined {
  if (f.default === undefined || f.default === null) return undefined;
  if (f.type === 'boolean') return f.default ? 'Yes' : 'No';
  const opt = f.options?.find((o) => JSON.stringify(o.value) === JSON.stringify(f.default));
  if (opt) return opt.label;
  if (Array.isArray(f.default)) {
    if (f.default.length === 0) return undefined;
    return f.default.map((v) => f.options?.find((o) => JSON.stringify(o.value) === JSON.stringify(v))?.label ?? (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  }
  return typeof f.default === 'string' ? f.default : JSON.stringify(f.default);
}

/** One sentence per rule of the question: kind and bounds, format, default, immutability. */
export function describeRules(f: FormField): string[] {
  const b = f.bounds;
  const out: string[] = [];
  switch (f.type) {
    case 'integer':
    case 'number': {
      const what = f.type === 'integer' ? 'Whole number' : 'Number';
      const r = range(b.minimum, b.maximum, b.exclusiveMinimum, b.exclusiveMaximum);
      out.push(`${what}${r ? ` ${r}` : ''}${b.multipleOf !== undefined ? `, in steps of ${b.multipleOf}` : ''}.`);
      break;
    }
    case 'text':
    case 'textarea':
    case 'email':
    case 'url': {
      const r = range(b.minLength, b.maxLength);
      if (r) out.push(`${r.charAt(0).toUpperCase()}${r.slice(1)} characters.`);
      if (f.type === 'email') out.push('An email address.');
      if (f.type === 'url') out.push('A full URL such as https://example.com.');
      if (f.pattern && f.patternMessage) out.push(f.patternMessage);
      break;
    }
    case 'date':
      out.push('A date (YYYY-MM-DD).');
      break;
    case 'datetime':
      out.push('A date and time (UTC unless a zone is given).');
      break;
    case 'multiselect': {
      const r = range(b.minItems, b.maxItems);
      out.push(`Choose any number${r ? ` (${r})` : ''}.`);
      break;
    }
    case 'list': {
      const r = range(b.minItems, b.maxItems);
      out.push(`One entry per line${r ? ` (${r} entries)` : ''}.`);
      if (f.pattern && f.patternMessage) out.push(`Each entry: ${f.patternMessage}`);
      break;
    }
    case 'json':
      out.push('JSON text.');
      break;
    default:
      break;
  }
  const d = defaultText(f);
  if (d !== undefined) out.push(`Default: ${d}.`);
  if (f.immutable) out.push('Cannot be changed after creation.');
  return out;
}

/** Help and rules as one description. */
export function describeField(f: FormField): string {
  return [f.help, ...describeRules(f)].filter(Boolean).join(' ');
}
