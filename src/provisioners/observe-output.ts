/**
 * The one shape every way of observing reality comes back in (an `exec` step's observe command
 * prints it; the opentofu provisioner derives it from a refresh-only plan): the params it could
 * read and the resource attributes no param models. Anything else fails the check naming the step.
 */
import { z } from 'zod';
import { DeploymentFailedError } from '../engine/errors.ts';
import { excerptOf } from './run-process.ts';
import type { ObserveResult } from './types.ts';

const ObserveOutputSchema = z.object({
  params: z.record(z.string(), z.unknown()),
  attributes: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});

/**
 * Parses what an observe command printed. Not JSON, or not `{ params, attributes? }`: a
 * {@link DeploymentFailedError} naming the step, with a redacted excerpt of what it printed.
 */
export function parseObserveOutput(stdout: string, step: string, redact: (line: string) => string): ObserveResult {
  const text = stdout.trim();
  const excerpt = (): string => excerptOf(text.split('\n').slice(-10).map(redact));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DeploymentFailedError(step, `step ${step}: observe printed something that is not JSON`, excerpt());
  }
  const parsed = ObserveOutputSchema.safeParse(value);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`).slice(0, 5).join('; ');
    throw new DeploymentFailedError(step, `step ${step}: observe must print {"params": {...}, "attributes": {...}} (${where})`, excerpt());
  }
  return { params: parsed.data.params, attributes: parsed.data.attributes ?? {} };
}
