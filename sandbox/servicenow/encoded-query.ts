/**
 * ServiceNow encoded queries (`sysparm_query`), the subset the service uses: `=`, `!=`, `^` (AND),
 * `^OR`, `^NQ`, `IN`, `NOT IN`, `STARTSWITH`, `ENDSWITH`, `LIKE`, `NOT LIKE`, `ISEMPTY`,
 * `ISNOTEMPTY`, `<`, `<=`, `>`, `>=`, `ORDERBY<field>` and `ORDERBYDESC<field>`, with dot-walking
 * through reference fields (`request_item.cat_item=<sys_id>`).
 *
 * Like the platform (Table API docs: "if part of a query is invalid, such as an invalid field
 * name, the instance ignores the invalid part"), a term naming an unknown field or using an
 * unknown operator is dropped, not rejected; {@link ParsedQuery.ignored} lists what was dropped so
 * tests can see it.
 */

/** One comparison. */
export interface QueryCondition {
  /** Field path, dot-walked through references (`request_item.number`). */
  field: string;
  operator: QueryOperator;
  value: string;
}

/** Operators understood by the sandbox. */
export type QueryOperator =
  | '='
  | '!='
  | 'IN'
  | 'NOT IN'
  | 'STARTSWITH'
  | 'ENDSWITH'
  | 'LIKE'
  | 'NOT LIKE'
  | 'ISEMPTY'
  | 'ISNOTEMPTY'
  | '<'
  | '<='
  | '>'
  | '>=';

/** One sort key. */
export interface QueryOrder {
  field: string;
  descending: boolean;
}

/**
 * A parsed query: `groups` are OR-ed (`^NQ`); inside a group, `clauses` are AND-ed and each clause
 * is an OR of conditions (`a^b^ORc` is a AND (b OR c), as on the platform).
 */
export interface ParsedQuery {
  groups: QueryCondition[][][];
  order: QueryOrder[];
  /** Terms dropped as invalid (unknown field or operator). */
  ignored: string[];
}

// Longest first: `ISNOTEMPTY` before `ISEMPTY`, `NOT IN` before `IN`, `!=` before `=`.
const OPERATORS: QueryOperator[] = ['ISNOTEMPTY', 'ISEMPTY', 'STARTSWITH', 'ENDSWITH', 'NOT LIKE', 'NOT IN', 'LIKE', 'IN', '!=', '>=', '<=', '=', '>', '<'];
const UNARY = new Set<QueryOperator>(['ISEMPTY', 'ISNOTEMPTY']);
// Field names are lower-case on the platform, so an upper-case operator ends the field part.
const TERM = new RegExp(`^([a-z_][a-z0-9_]*(?:\\.[a-z_][a-z0-9_]*)*)(${OPERATORS.map((o) => o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(.*)$`, 's');
// A literal caret inside a value is written `^^` in an encoded query.
const CARET = '\u0000';

/**
 * Parses an encoded query. `knownField(path)` says whether a field path exists on the table;
 * terms on unknown fields are ignored like the platform does.
 */
export function parseEncodedQuery(query: string, knownField: (path: string) => boolean): ParsedQuery {
  const out: ParsedQuery = { groups: [], order: [], ignored: [] };
  if (!query.trim()) return out;
  let group: QueryCondition[][] = [];
  const flush = () => {
    if (group.length) out.groups.push(group);
    group = [];
  };
  const parts = query.replace(/\^\^/g, CARET).split('^');
  for (let raw of parts) {
    raw = raw.split(CARET).join('^');
    if (raw === '') continue;
    if (raw === 'NQ') {
      flush();
      continue;
    }
    if (raw.startsWith('NQ')) {
      flush();
      raw = raw.slice(2);
    }
    const order = /^ORDERBY(DESC)?([a-z_][a-z0-9_.]*)$/.exec(raw);
    if (order) {
      const field = order[2] as string;
      if (knownField(field)) out.order.push({ field, descending: Boolean(order[1]) });
      else out.ignored.push(raw);
      continue;
    }
    // Upper-case `OR` cannot start a (lower-case) field name, so it always marks `^OR`.
    const alternative = raw.startsWith('OR');
    const term = alternative ? raw.slice(2) : raw;
    const m = TERM.exec(term);
    if (!m || !knownField(m[1] as string)) {
      out.ignored.push(raw);
      continue;
    }
    const operator = m[2] as QueryOperator;
    const condition: QueryCondition = { field: m[1] as string, operator, value: UNARY.has(operator) ? '' : (m[3] as string) };
    if (UNARY.has(operator) && m[3]) {
      out.ignored.push(raw);
      continue;
    }
    const last = group[group.length - 1];
    if (alternative && last) last.push(condition);
    else group.push([condition]);
  }
  flush();
  return out;
}

/** Compares two field values the way the sandbox sorts: numerically when both are numbers. */
export function compareValues(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Evaluates one condition against a value (`read(path)` gives the stored string, '' when empty). */
export function matchesCondition(c: QueryCondition, actual: string): boolean {
  switch (c.operator) {
    case '=':
      return actual === c.value;
    case '!=':
      return actual !== c.value;
    case 'IN':
      return c.value.split(',').includes(actual);
    case 'NOT IN':
      return !c.value.split(',').includes(actual);
    case 'STARTSWITH':
      return actual.toLowerCase().startsWith(c.value.toLowerCase());
    case 'ENDSWITH':
      return actual.toLowerCase().endsWith(c.value.toLowerCase());
    case 'LIKE':
      return actual.toLowerCase().includes(c.value.toLowerCase());
    case 'NOT LIKE':
      return !actual.toLowerCase().includes(c.value.toLowerCase());
    case 'ISEMPTY':
      return actual === '';
    case 'ISNOTEMPTY':
      return actual !== '';
    // An empty value never satisfies a range comparison on the platform.
    case '<':
      return actual !== '' && compareValues(actual, c.value) < 0;
    case '<=':
      return actual !== '' && compareValues(actual, c.value) <= 0;
    case '>':
      return actual !== '' && compareValues(actual, c.value) > 0;
    case '>=':
      return actual !== '' && compareValues(actual, c.value) >= 0;
  }
}

/** True when the record (read through `read`) satisfies the query. */
export function matchesQuery(q: ParsedQuery, read: (path: string) => string): boolean {
  if (q.groups.length === 0) return true;
  return q.groups.some((group) => group.every((clause) => clause.some((c) => matchesCondition(c, read(c.field)))));
}

/** Sorts in place by the query's ORDER BY keys (stable: ties keep insertion order). */
export function sortByQuery<T>(rows: T[], q: ParsedQuery, read: (row: T, path: string) => string): T[] {
  if (!q.order.length) return rows;
  return rows.sort((x, y) => {
    for (const o of q.order) {
      const d = compareValues(read(x, o.field), read(y, o.field));
      if (d !== 0) return o.descending ? -d : d;
    }
    return 0;
  });
}
