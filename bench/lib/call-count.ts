/**
 * Counting a surface's API calls from a sandbox's call log: each call is named by its method and
 * the path template of the sandbox route that answered it (`GET /rest/api/3/issue/{issueIdOrKey}`),
 * and split into the phases of a ticket's lifecycle by the instants that bound them.
 */

/** The part of a sandbox call (Jira's or ServiceNow's) the counts need. */
export interface LoggedCall {
  method: string;
  path: string;
  at: Date;
  actorId?: string;
}

/**
 * Names calls by method and route template, from the sandbox's `routes`; the parameters named in
 * `keep` are shown with their value (ServiceNow's `{tableName}`: which table is the point).
 */
export function routeNamer(routes: ReadonlyArray<{ method: string; template: string }>, keep: string[] = []): (c: { method: string; path: string }) => string {
  const compiled = routes.map((r) => ({
    method: r.method,
    template: r.template,
    // Literal segments outrank parameters: `/issue/{id}/transitions` before `/issue/{id}/{x}`.
    literal: r.template.split('/').filter((s) => !s.startsWith('{')).length,
    regex: new RegExp(
      `^${r.template
        .split('/')
        .map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/')}/?$`,
    ),
  }));
  compiled.sort((a, b) => b.literal - a.literal);
  return (c) => {
    const hit = compiled.find((r) => r.method === c.method && r.regex.test(c.path));
    if (!hit) return `${c.method} ${c.path}`;
    const actual = c.path.replace(/\/+$/, '').split('/');
    const named = hit.template
      .split('/')
      .map((seg, i) => (keep.includes(seg.slice(1, -1)) ? (actual[i] ?? seg) : seg))
      .join('/');
    return `${c.method} ${named}`;
  };
}

/** One phase of a lifecycle: calls answered after `from` and at or before `to` (epoch ms). */
export interface PhaseBound {
  name: string;
  from: number;
  to: number;
}

/** Calls per phase, by name (method and template), in order of first appearance. */
export interface PhaseCount {
  name: string;
  total: number;
  byName: Map<string, number>;
}

/** Splits `calls` into `phases` and counts each phase by call name. */
export function countPhases(calls: LoggedCall[], phases: PhaseBound[], name: (c: LoggedCall) => string): PhaseCount[] {
  return phases.map((p) => {
    const byName = new Map<string, number>();
    let total = 0;
    for (const c of calls) {
      const at = c.at.getTime();
      if (at <= p.from || at > p.to) continue;
      total += 1;
      const n = name(c);
      byName.set(n, (byName.get(n) ?? 0) + 1);
    }
    return { name: p.name, total, byName };
  });
}

/** Rows of a table: one per phase and call name, the phase's total first, with its goal. */
export function phaseRows(counts: PhaseCount[], goals: Record<string, number | undefined>): string[][] {
  const rows: string[][] = [['phase', 'call (method, path template)', 'calls', 'goal']];
  for (const p of counts) {
    const goal = goals[p.name];
    rows.push([p.name, 'all', String(p.total), goal === undefined ? '' : `<= ${goal}: ${p.total <= goal ? 'met' : 'MISSED'}`]);
    for (const [n, v] of [...p.byName].sort((a, b) => b[1] - a[1])) rows.push(['', n, String(v), '']);
  }
  return rows;
}
