/**
 * A small Prometheus text-format registry: counters and gauges with labels, plus histograms
 * with fixed buckets. Kept in-house because the service needs a handful of series and no push.
 */

type LabelSet = Record<string, string>;

function key(labels: LabelSet): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

interface Series {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Map<string, number>;
  buckets?: number[];
  hist?: Map<string, { counts: number[]; sum: number; count: number }>;
}

/** Metrics of one process, rendered at `/metrics`. */
export class Metrics {
  private readonly series = new Map<string, Series>();

  private get(name: string, type: Series['type'], help: string, buckets?: number[]): Series {
    let s = this.series.get(name);
    if (!s) {
      s = { help, type, values: new Map(), buckets, hist: type === 'histogram' ? new Map() : undefined };
      this.series.set(name, s);
    }
    return s;
  }

  /** Adds `by` to a counter. */
  inc(name: string, help: string, labels: LabelSet = {}, by = 1): void {
    const s = this.get(name, 'counter', help);
    const k = key(labels);
    s.values.set(k, (s.values.get(k) ?? 0) + by);
  }

  /** Sets a gauge. */
  set(name: string, help: string, value: number, labels: LabelSet = {}): void {
    this.get(name, 'gauge', help).values.set(key(labels), value);
  }

  /** Records one observation (seconds) in a histogram. */
  observe(name: string, help: string, value: number, labels: LabelSet = {}, buckets = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]): void {
    const s = this.get(name, 'histogram', help, buckets);
    const k = key(labels);
    let h = s.hist!.get(k);
    if (!h) {
      h = { counts: new Array(s.buckets!.length).fill(0), sum: 0, count: 0 };
      s.hist!.set(k, h);
    }
    s.buckets!.forEach((b, i) => {
      if (value <= b) h!.counts[i]++;
    });
    h.sum += value;
    h.count++;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.series) {
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      if (s.type === 'histogram') {
        for (const [k, h] of s.hist!) {
          const sep = k ? ',' : '';
          s.buckets!.forEach((b, i) => out.push(`${name}_bucket{${k}${sep}le="${b}"} ${h.counts[i]}`));
          out.push(`${name}_bucket{${k}${sep}le="+Inf"} ${h.count}`);
          out.push(`${name}_sum${k ? `{${k}}` : ''} ${h.sum}`, `${name}_count${k ? `{${k}}` : ''} ${h.count}`);
        }
      } else {
        for (const [k, v] of s.values) out.push(`${name}${k ? `{${k}}` : ''} ${v}`);
      }
    }
    return out.join('\n') + '\n';
  }
}
