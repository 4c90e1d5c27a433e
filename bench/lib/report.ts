/**
 * Small helpers the benchmarks share: percentiles, number formatting, the time budget read from
 * the environment, and a watchdog so no benchmark can outlive its bound.
 */

/** The `q` quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function percentile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[rank]!;
}

/** p50, p99 and max of a sample, in its own unit. */
export function summary(values: ArrayLike<number>): { n: number; p50: number; p99: number; max: number } {
  let max = Number.NaN;
  for (let i = 0; i < values.length; i++) max = Number.isNaN(max) ? values[i]! : Math.max(max, values[i]!);
  return { n: values.length, p50: percentile(values, 0.5), p99: percentile(values, 0.99), max };
}

/** A number with a fixed count of decimals, `n/a` for NaN. */
export function fmt(v: number, decimals = 1): string {
  return Number.isFinite(v) ? v.toFixed(decimals) : 'n/a';
}

/** Bytes as MB (10^6 bytes, the unit the goals are written in). */
export function mb(bytes: number): string {
  return `${fmt(bytes / 1e6, 1)} MB`;
}

/** `met` / `MISSED` against a goal, for the printed table. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

/**
 * Seconds of sustained load from `BENCH_SECONDS` (default `fallback`), clamped to 1..600 so a
 * typo cannot make a benchmark run for hours.
 */
export function benchSeconds(fallback: number): number {
  const raw = process.env.BENCH_SECONDS;
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`BENCH_SECONDS must be a positive number of seconds, got "${raw}"`);
  return Math.min(600, Math.max(1, v));
}

/**
 * Exits the process (code 2) if it is still running after `ms`; `onExpire` gets up to 15 s to
 * stop servers and child processes first. The timer is unref'd so it never keeps a finished
 * benchmark alive.
 */
export function watchdog(ms: number, what: string, onExpire: () => unknown = () => undefined): void {
  setTimeout(() => {
    process.stderr.write(`${what}: still running after ${Math.round(ms / 1000)} s, giving up\n`);
    const exit = () => process.exit(2);
    setTimeout(exit, 15_000).unref();
    Promise.resolve()
      .then(onExpire)
      .then(exit, exit);
  }, ms).unref();
}

/** Prints rows as an aligned text table. */
export function printTable(rows: string[][]): void {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}
