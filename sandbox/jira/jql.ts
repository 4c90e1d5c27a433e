/**
 * A tiny JQL subset for the Jira sandbox's search and webhook filters: clauses joined by AND on
 * project, issuetype, status, key, reporter, assignee and labels, with `=`, `!=`, `IN`, `NOT IN`,
 * and an optional `ORDER BY created|updated|key [ASC|DESC]`. Anything else is refused with a
 * message shaped like Jira's, so a service relying on more JQL learns it from a test.
 */

/** A JQL string the sandbox cannot parse or does not support. */
export class JqlError extends Error {}

/** One `field op values` clause. */
export interface JqlClause {
  field: 'project' | 'issuetype' | 'status' | 'key' | 'reporter' | 'assignee' | 'labels';
  negate: boolean;
  values: string[];
}

/** A parsed query. */
export interface JqlQuery {
  clauses: JqlClause[];
  orderBy?: { field: 'created' | 'updated' | 'key'; direction: 'ASC' | 'DESC' };
}

/** The values an issue offers to each JQL field (names and ids; compared case-insensitively). */
export type JqlIssueView = Record<JqlClause['field'], string[]>;

const FIELD_ALIASES: Record<string, JqlClause['field']> = {
  project: 'project',
  issuetype: 'issuetype',
  type: 'issuetype',
  status: 'status',
  key: 'key',
  issuekey: 'key',
  id: 'key',
  issue: 'key',
  reporter: 'reporter',
  assignee: 'assignee',
  labels: 'labels',
};

type Token = { kind: 'word' | 'string' | 'op' | 'lparen' | 'rparen' | 'comma'; text: string };

function tokenize(jql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < jql.length) {
    const c = jql[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'") {
      const end = jql.indexOf(c, i + 1);
      if (end < 0) throw new JqlError(`Error in the JQL Query: unterminated string at character ${i}.`);
      tokens.push({ kind: 'string', text: jql.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '(') {
      tokens.push({ kind: 'lparen', text: c });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'rparen', text: c });
      i++;
    } else if (c === ',') {
      tokens.push({ kind: 'comma', text: c });
      i++;
    } else if (c === '!' && jql[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '!=' });
      i += 2;
    } else if (c === '=') {
      tokens.push({ kind: 'op', text: '=' });
      i++;
    } else if ('<>~'.includes(c)) {
      throw new JqlError(`Error in the JQL Query: the operator '${c}' is not supported by the sandbox.`);
    } else {
      const m = /^[^\s=!(),"'<>~]+/.exec(jql.slice(i));
      const word = m?.[0] ?? c;
      tokens.push({ kind: 'word', text: word });
      i += word.length;
    }
  }
  return tokens;
}

/** Parses the supported subset; throws {@link JqlError} with a Jira-like message otherwise. */
export function parseJql(jql: string): JqlQuery {
  const tokens = tokenize(jql);
  const query: JqlQuery = { clauses: [] };
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const next = (): Token => {
    const t = tokens[pos++];
    if (!t) throw new JqlError('Error in the JQL Query: the query ended unexpectedly.');
    return t;
  };
  const value = (): string => {
    const t = next();
    if (t.kind !== 'word' && t.kind !== 'string') throw new JqlError(`Error in the JQL Query: expected a value but got '${t.text}'.`);
    return t.text;
  };
  while (pos < tokens.length) {
    const t = next();
    if (t.kind === 'word' && t.text.toUpperCase() === 'ORDER') {
      const by = next();
      if (by.text.toUpperCase() !== 'BY') throw new JqlError("Error in the JQL Query: expected 'by' after 'order'.");
      const f = next().text.toLowerCase();
      if (f !== 'created' && f !== 'updated' && f !== 'key') throw new JqlError(`Error in the JQL Query: the sandbox cannot order by '${f}'.`);
      const dir = peek()?.text.toUpperCase();
      let direction: 'ASC' | 'DESC' = 'ASC';
      if (dir === 'ASC' || dir === 'DESC') {
        direction = dir;
        pos++;
      }
      query.orderBy = { field: f, direction };
      if (pos < tokens.length) throw new JqlError('Error in the JQL Query: the sandbox supports one ORDER BY field.');
      break;
    }
    if (t.kind !== 'word' && t.kind !== 'string') throw new JqlError(`Error in the JQL Query: unexpected '${t.text}'.`);
    const field = FIELD_ALIASES[t.text.toLowerCase()];
    if (!field) throw new JqlError(`Field '${t.text}' does not exist or you do not have permission to view it.`);
    let negate = false;
    let list = false;
    const op = next();
    if (op.kind === 'op') {
      negate = op.text === '!=';
    } else if (op.kind === 'word' && op.text.toUpperCase() === 'IN') {
      list = true;
    } else if (op.kind === 'word' && op.text.toUpperCase() === 'NOT' && peek()?.text.toUpperCase() === 'IN') {
      pos++;
      list = true;
      negate = true;
    } else {
      throw new JqlError(`Error in the JQL Query: the operator '${op.text}' is not supported by the sandbox.`);
    }
    const values: string[] = [];
    if (list) {
      if (next().kind !== 'lparen') throw new JqlError("Error in the JQL Query: expected '(' after IN.");
      for (;;) {
        values.push(value());
        const sep = next();
        if (sep.kind === 'rparen') break;
        if (sep.kind !== 'comma') throw new JqlError(`Error in the JQL Query: expected ',' or ')' but got '${sep.text}'.`);
      }
    } else {
      values.push(value());
    }
    query.clauses.push({ field, negate, values });
    const conj = peek();
    if (!conj) break;
    if (conj.kind === 'word' && conj.text.toUpperCase() === 'AND') {
      pos++;
      continue;
    }
    if (conj.kind === 'word' && conj.text.toUpperCase() === 'ORDER') continue;
    throw new JqlError(`Error in the JQL Query: the sandbox supports only AND between clauses, got '${conj.text}'.`);
  }
  return query;
}

/** True when the issue satisfies every clause of the query. */
export function matchesJql(query: JqlQuery, issue: JqlIssueView): boolean {
  return query.clauses.every((clause) => {
    const have = (issue[clause.field] ?? []).map((v) => v.toLowerCase());
    const hit = clause.values.some((v) => have.includes(v.toLowerCase()));
    return clause.negate ? !hit : hit;
  });
}
