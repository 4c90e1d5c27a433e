/**
 * Scanner steps: checks a bundle declares over its plan JSON (checkov, a script), run after every
 * plan. Declared at the top level of massdriver.yaml:
 *
 * ```yaml
 * scanners:
 *   - name: no-public-buckets
 *     command: [node, checks/no-public.mjs]   # argv (no shell) or a fixed shell string
 *     timeout_seconds: 60                      # default 120
 *     severity:
 *       production: fail                       # environments labelled production: true hard-fail
 *       default: warn                          # everywhere else a finding is a warning
 * ```
 *
 * A scanner runs in the bundle directory with the plan JSON's path in `MD_PLAN_FILE` (plus
 * `MD_STEP`, PATH/HOME/LANG and `TS_TARGET_*`). Exit 0 passes; any other exit is a finding and
 * its stdout the findings text. Each severity key other than `default` names an environment label:
 * it applies when that label is true in the package's environment; the strictest applying one
 * wins; without any, `default` (itself `warn` unless set).
 */
import { z } from 'zod';
import { BundleError } from '../engine/errors.ts';
import type { Bundle, Clock, Labels, PolicyDecision } from '../engine/model.ts';
import type { PlanScanner, ScanInput } from '../engine/provisioner-port.ts';
import { Redactor } from '../engine/redact.ts';
import { describeFailure, runProcess } from './run-process.ts';
import { inheritedEnv } from './types.ts';

const SeveritySchema = z.enum(['fail', 'warn']);

/** Zod schema of one scanner declaration. */
export const ScannerSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i, 'must be a short name (letters, digits, . _ -)'),
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
    timeout_seconds: z.number().positive().max(3600).optional(),
    severity: z.record(z.string(), SeveritySchema).default({ default: 'warn' }),
  })
  .strict();

/** A validated scanner declaration. */
export type Scanner = z.infer<typeof ScannerSchema>;

/** Reads a bundle's `scanners:`; empty when it declares none. A malformed one is a {@link BundleError}. */
export function parseScanners(bundle: Pick<Bundle, 'raw' | 'file'>): Scanner[] {
  const raw = bundle.raw?.scanners;
  if (raw === undefined || raw === null) return [];
  const parsed = z.array(ScannerSchema).safeParse(raw);
  if (!parsed.success) {
    throw new BundleError(
      `${bundle.file}: invalid scanners`,
      parsed.error.issues.map((i) => ({ pointer: `/scanners${i.path.length ? '/' + i.path.join('/') : ''}`, message: i.message, file: bundle.file })),
    );
  }
  return parsed.data;
}

function labelTrue(v: unknown): boolean {
  return v === true || v === 'true' || v === 1 || v === 'yes';
}

/** The severity of a scanner's finding in an environment with `labels`. */
export function severityFor(scanner: Pick<Scanner, 'severity'>, labels: Labels): 'fail' | 'warn' {
  let result: 'fail' | 'warn' | undefined;
  for (const [label, sev] of Object.entries(scanner.severity)) {
    if (label === 'default' || !labelTrue(labels[label])) continue;
    if (sev === 'fail' || result === undefined) result = sev;
  }
  return result ?? scanner.severity.default ?? 'warn';
}

/** Options for {@link runScanners}. */
export interface RunScannersOptions {
  bundle: Pick<Bundle, 'raw' | 'file' | 'dir'>;
  /** Labels of the package's environment. */
  labels: Labels;
  /** Plan JSON files to scan, one per step (step path -> absolute file). */
  planFiles: { step: string; file: string }[];
  redactor?: Redactor;
  clock: Clock;
  baseEnv?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const MAX_REASON_CHARS = 600;

/**
 * Runs every declared scanner over every step's plan JSON. One decision per scanner: `allow`
 * when all its runs passed, otherwise `deny` (severity fail) or `warn`, with the findings text
 * (redacted, shortened) as the reason. A scanner that cannot run counts as a finding.
 */
export async function runScanners(opts: RunScannersOptions): Promise<PolicyDecision[]> {
  const scanners = parseScanners(opts.bundle);
  const redactor = opts.redactor ?? new Redactor();
  const decisions: PolicyDecision[] = [];
  for (const s of scanners) {
    const timeoutMs = (s.timeout_seconds ?? 120) * 1000;
    const findings: string[] = [];
    for (const pf of opts.planFiles) {
      const env = { ...inheritedEnv(opts.baseEnv ?? process.env), MD_PLAN_FILE: pf.file, MD_STEP: pf.step };
      const r = await runProcess({ command: s.command, cwd: opts.bundle.dir, env, timeoutMs, redactor, clock: opts.clock, signal: opts.signal });
      const failure = describeFailure(r, timeoutMs);
      if (!failure) continue;
      const text = redactor.redactText(r.stdout.trim()) || r.tail.slice(-3).join(' ') || `scanner ${failure}`;
      findings.push(opts.planFiles.length > 1 ? `${pf.step}: ${text}` : text);
    }
    const rule = `scanner:${s.name}`;
    if (findings.length === 0) {
      decisions.push({ rule, outcome: 'allow', reason: `${s.name} found nothing` });
      continue;
    }
    let reason = findings.join('\n');
    if (reason.length > MAX_REASON_CHARS) reason = reason.slice(0, MAX_REASON_CHARS) + '…';
    decisions.push({ rule, outcome: severityFor(s, opts.labels) === 'fail' ? 'deny' : 'warn', reason });
  }
  return decisions;
}

/** The engine's {@link PlanScanner} port: scanners run as real processes with the service's allowed environment. */
export class ProcessPlanScanner implements PlanScanner {
  constructor(private readonly opts: { baseEnv?: NodeJS.ProcessEnv } = {}) {}

  /** {@inheritDoc PlanScanner.scan} */
  scan(input: ScanInput): Promise<PolicyDecision[]> {
    return runScanners({ ...input, baseEnv: this.opts.baseEnv });
  }
}
