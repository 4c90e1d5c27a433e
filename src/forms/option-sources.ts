/**
 * Dynamic option sources: the port through which a form asks the inventory for choices that
 * change over time (versions of a bundle carrying an attestation, environments, packages of a
 * bundle, values offered by a connected package's artifact). The engine implements the port;
 * the forms room only declares what it needs.
 */
import type { DynamicOptionSource, FieldOption, Form, FormContext } from './model.ts';

/** Answers the choices of one dynamic source. Implementations read the inventory; tests pass a fixed one. */
export interface OptionSources {
  /**
   * The current options of `source`, in display order (for versions: newest first). `value` is
   * what lands in params or the request; `note` may carry who attested and when.
   */
  options(source: DynamicOptionSource, ctx: FormContext): Promise<FieldOption[]>;
}

/** Stable identity of a source, so a caller can tell when its options must be re-synced. */
export function sourceKey(source: DynamicOptionSource): string {
  return JSON.stringify(Object.keys(source).sort().map((k) => [k, (source as unknown as Record<string, unknown>)[k]]));
}

/**
 * A copy of `form` whose dynamically sourced fields carry their current options. Each distinct
 * source is asked once.
 */
export async function resolveDynamicOptions(form: Form, sources: OptionSources, ctx: FormContext = {}): Promise<Form> {
  const cache = new Map<string, Promise<FieldOption[]>>();
  const fields = await Promise.all(
    form.fields.map(async (f) => {
      if (!f.source) return f;
      const key = sourceKey(f.source);
      if (!cache.has(key)) cache.set(key, sources.options(f.source, ctx));
      return { ...f, options: await cache.get(key)! };
    }),
  );
  return { ...form, fields };
}
