/**
 * The ServiceNow contract the sandbox is held to:
 *
 * - paths, methods and query parameters against the platform's own OpenAPI exports (Table API and
 *   Service Catalog API of an Australia instance, sandbox/specs/servicenow) through the
 *   shared {@link ContractSet}: a parameter the export does not list is a violation. The one
 *   documented addition (`sysparm_offset`, missing from the export but in the Table API reference
 *   and in the platform's own `Link` header) is listed in {@link DOCUMENTED_EXTRA_PARAMETERS}.
 * - response shapes against the official documentation examples (sandbox/specs/servicenow-documented): the
 *   `{"result": ...}` envelopes, value shapes (strings, `{link, value}` references), the key set
 *   every task record shares, sys columns and their date format, the `order_now` answer and the
 *   error envelope. The rules are derived from the example files when the contract is loaded, so
 *   a change on either side shows up.
 * - the OAuth token endpoint (`POST /oauth_token.do`) against the platform's OAuth examples: a
 *   form-encoded request with the documented fields, and an answer with the documented keys and
 *   value types (a grant without a refresh token answers without `refresh_token`).
 *
 * The exports carry no response schemas (every operation has `"responses": {}`), which is why
 * the shapes come from the documentation examples.
 */
import { readFileSync } from 'node:fs';
import { ContractSet, OpenApiContract, type ContractViolation } from '../contract/openapi-contract.ts';

/** What kind of mismatch a violation is. */
export type ServiceNowViolationKind = ContractViolation['kind'] | 'unknown-parameter' | 'response-shape' | 'missing-header';

/** One mismatch between an exchange and the contract. */
export interface ServiceNowViolation extends Omit<ContractViolation, 'kind' | 'errors'> {
  kind: ServiceNowViolationKind;
}

/**
 * Query parameters the platform accepts that its OpenAPI export leaves out, by
 * `<method> <template>`, each with where it is documented.
 */
export const DOCUMENTED_EXTRA_PARAMETERS: Record<string, Array<{ name: string; source: string }>> = {
  'get /api/now/table/{tableName}': [
    {
      name: 'sysparm_offset',
      source: 'ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/c_TableAPI.md (row_sysparm_offset); used by the platform Link header',
    },
  ],
};

/**
 * Tables that extend `task` on the platform (the documented examples are incident and problem;
 * the rest are the ones the sandbox serves).
 */
export const TASK_TABLES = new Set(['task', 'incident', 'problem', 'sc_request', 'sc_req_item', 'change_request', 'sc_task']);

/** Shape rules read from the documentation examples. */
export interface DocumentedShapes {
  /** Keys of the error envelope and of its `error` object, and the `status` value. */
  errorKeys: string[];
  errorInnerKeys: string[];
  errorStatus: string;
  /** Keys of a reference value (`link`, `value`). */
  referenceKeys: string[];
  /** The sys date-time format, as a regular expression. */
  dateTime: RegExp;
  /** Keys every documented task record has. */
  taskKeys: string[];
  /** sys columns every record has. */
  sysKeys: string[];
  /** Keys of the `order_now` result. */
  orderNowKeys: string[];
  /** Keys of the token endpoint's answer, and the JSON type of each. */
  tokenTypes: Record<string, string>;
  /** Form fields of the documented token request (the password grant). */
  tokenRequestFields: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const sorted = (o: object) => Object.keys(o).sort();

/** sys columns of the examples that exist only on extensible or domain-separated tables. */
const NOT_UNIVERSAL_SYS = new Set(['sys_class_name', 'sys_domain', 'sys_domain_path']);

/** Reads the rules from the example files in `dir` (sandbox/specs/servicenow-documented). */
export function loadDocumentedShapes(dir: URL): DocumentedShapes {
  const json = (p: string): unknown => JSON.parse(readFileSync(new URL(p, dir), 'utf8'));
  const err = json('platform/error-response-format.json') as Record<string, unknown>;
  const rate = json('platform/rate-limit-429-body.json') as Record<string, unknown>;
  if (!isObj(err.error) || !isObj(rate.error)) throw new Error('servicenow fixtures: error examples have no "error" object');
  if (sorted(err).join() !== sorted(rate).join() || sorted(err.error).join() !== sorted(rate.error).join()) {
    throw new Error('servicenow fixtures: the 429 example and the error format example disagree');
  }
  const records: Array<Record<string, unknown>> = [];
  for (const f of ['get_now_table_tablename.02.json', 'get_now_table_tablename_sys_id.02.json', 'patch_now_table_tablename_sys_id.02.json', 'post_now_table_tablename.02.json', 'put_now_table_tablename_sys_id.02.json']) {
    const body = json(`table-api/${f}`) as { result: unknown };
    if (sorted(body).join() !== 'result') throw new Error(`servicenow fixtures: ${f} is not a {"result": ...} envelope`);
    const list = Array.isArray(body.result) ? body.result : [body.result];
    for (const r of list) if (isObj(r)) records.push(r);
  }
  const referenceShapes = new Set<string>();
  let dateSample = '';
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      if (isObj(v)) {
        referenceShapes.add(sorted(v).join());
        const link = String(v.link);
        if (!link.endsWith(`/${String(v.value)}`) || !/\/api\/now\/table\/[a-z_0-9]+\/[^/]+$/.test(link)) throw new Error(`servicenow fixtures: reference ${k} has an unexpected link ${link}`);
      } else if (typeof v !== 'string') {
        throw new Error(`servicenow fixtures: ${k} is neither a string nor a reference`);
      }
      if (k === 'sys_created_on' && typeof v === 'string') dateSample = v;
    }
  }
  if (referenceShapes.size !== 1) throw new Error('servicenow fixtures: references have more than one shape');
  const taskKeys = records.map((r) => new Set(Object.keys(r))).reduce((a, b) => new Set([...a].filter((k) => b.has(k))));
  const orderNow = json('service-catalog-api/post_sn_sc_servicecatalog_items_sys_id_order_now.02.json') as { result: Record<string, unknown> };
  const tokenAnswer = json('platform/oauth-token-response.json') as Record<string, unknown>;
  const curl = readFileSync(new URL('platform/oauth-password-grant-request.curl.txt', dir), 'utf8');
  const form = /-d\s+"([^"]+)"/.exec(curl)?.[1];
  if (!form || !/\/oauth_token\.do\b/.test(curl)) throw new Error('servicenow fixtures: the OAuth request example has no form body for /oauth_token.do');
  return {
    errorKeys: sorted(err),
    errorInnerKeys: sorted(err.error),
    errorStatus: String(err.status),
    referenceKeys: [...referenceShapes][0]?.split(',') ?? [],
    // The example's digits become \d: the format, not the value, is the rule.
    dateTime: new RegExp(`^${dateSample.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d/g, '\\d')}$`),
    taskKeys: [...taskKeys].sort(),
    sysKeys: [...taskKeys].filter((k) => k.startsWith('sys_') && !NOT_UNIVERSAL_SYS.has(k)).sort(),
    orderNowKeys: sorted(orderNow.result),
    tokenTypes: Object.fromEntries(Object.entries(tokenAnswer).map(([k, v]) => [k, typeof v])),
    tokenRequestFields: [...new URLSearchParams(form).keys()].sort(),
  };
}

/** One exchange with the token endpoint as the checker sees it. */
export interface ServiceNowTokenExchange {
  method: string;
  /** The request's Content-Type. */
  contentType: string;
  form: URLSearchParams;
  status: number;
  body?: unknown;
}

/** One request as the checker sees it. */
export interface ServiceNowRequestExchange {
  method: string;
  path: string;
  query: URLSearchParams;
}

/** One response as the checker sees it. */
export interface ServiceNowResponseExchange extends ServiceNowRequestExchange {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** The ServiceNow contract: OpenAPI exports for paths and parameters, examples for shapes. */
export class ServiceNowContract {
  readonly set: ContractSet;
  readonly shapes: DocumentedShapes;

  /** Combines a contract set (the exports) with the shape rules. */
  constructor(set: ContractSet, shapes: DocumentedShapes) {
    this.set = set;
    this.shapes = shapes;
  }

  /** Loads the Australia exports (Table API, Service Catalog API) and the documentation examples. */
  static load(): ServiceNowContract {
    const specs = new URL('../specs/servicenow/australia-p3-dev421992/', import.meta.url);
    const set = new ContractSet([
      OpenApiContract.fromFile(new URL('now-Table_API.json', specs), { name: 'servicenow-table-api' }),
      OpenApiContract.fromFile(new URL('sn_sc-Service_Catalog_API.json', specs), { name: 'servicenow-service-catalog-api' }),
    ]);
    return new ServiceNowContract(set, loadDocumentedShapes(new URL('../specs/servicenow-documented/', import.meta.url)));
  }

  /** Path, method and query parameters of a request. */
  checkRequest(x: ServiceNowRequestExchange): ServiceNowViolation[] {
    const method = x.method.toUpperCase();
    const base = { method, path: x.path };
    const c = this.set.contractFor(x.path);
    if (!c) return [{ ...base, contract: 'none', kind: 'unknown-path', message: `no ServiceNow export has a path matching ${x.path}` }];
    const op = c.matchOperation(method, x.path);
    if (!op) return [{ ...base, contract: c.name, kind: 'unknown-method', message: `${method} is not an operation of ${x.path} in ${c.name}` }];
    const declared = ((op.operation.parameters ?? []) as Array<{ name: string; in: string }>).filter((p) => p.in === 'query').map((p) => p.name);
    const extra = (DOCUMENTED_EXTRA_PARAMETERS[`${op.method} ${op.template}`] ?? []).map((p) => p.name);
    const allowed = new Set([...declared, ...extra]);
    const out: ServiceNowViolation[] = [];
    for (const name of new Set(x.query.keys())) {
      if (!allowed.has(name)) {
        out.push({
          ...base,
          contract: c.name,
          template: op.template,
          kind: 'unknown-parameter',
          message: `query parameter "${name}" is not a parameter of ${method} ${op.template} (declared: ${[...allowed].join(', ') || 'none'})`,
        });
      }
    }
    return out;
  }

  /** Shape of a response (and the paging headers of a list). */
  checkResponse(x: ServiceNowResponseExchange): ServiceNowViolation[] {
    const method = x.method.toUpperCase();
    const out: ServiceNowViolation[] = [];
    const c = this.set.contractFor(x.path);
    const op = c?.matchOperation(method, x.path);
    const v = (message: string, kind: ServiceNowViolationKind = 'response-shape') =>
      out.push({ contract: c?.name ?? 'none', kind, method, path: x.path, status: x.status, ...(op ? { template: op.template } : {}), message });
    if (x.status >= 400) {
      this.checkError(x.body, v);
      return out;
    }
    if (!op) return out;
    if (op.template.startsWith('/api/now/table')) this.checkTable(x, op.template, v);
    else if (op.template === '/api/sn_sc/servicecatalog/items/{sys_id}/order_now') this.checkOrderNow(x.body, v);
    return out;
  }

  /** A token request and its answer, against the OAuth examples. */
  checkToken(x: ServiceNowTokenExchange): ServiceNowViolation[] {
    const method = x.method.toUpperCase();
    const out: ServiceNowViolation[] = [];
    const v = (message: string, kind: ServiceNowViolationKind = 'response-shape') =>
      out.push({ contract: 'servicenow-oauth', kind, method, path: '/oauth_token.do', status: x.status, template: '/oauth_token.do', message });
    if (method !== 'POST') v(`the token endpoint takes POST, not ${method}`, 'unknown-method');
    if (!/^application\/x-www-form-urlencoded\b/i.test(x.contentType)) v(`the token request must be form-encoded (got ${x.contentType || 'no Content-Type'})`, 'unknown-parameter');
    const s = this.shapes;
    // The documented fields, plus the refresh token the documented answer hands out for the refresh grant.
    const known = new Set([...s.tokenRequestFields, 'refresh_token']);
    for (const name of new Set(x.form.keys())) if (!known.has(name)) v(`token request field "${name}" is not documented`, 'unknown-parameter');
    const grant = x.form.get('grant_type');
    const needs = grant === 'password' ? s.tokenRequestFields : ['client_id', 'client_secret', 'grant_type', ...(grant === 'refresh_token' ? ['refresh_token'] : [])];
    for (const name of needs) if (!x.form.get(name)) v(`token request lacks "${name}"`, 'unknown-parameter');
    if (x.status !== 200) {
      if (!isObj(x.body) || !Object.values(x.body).every((m) => typeof m === 'string')) v('a refused token request answers an object of strings');
      return out;
    }
    const body = x.body;
    if (!isObj(body)) return (v('token answer must be a JSON object'), out);
    for (const [k, val] of Object.entries(body)) {
      const want = s.tokenTypes[k];
      if (!want) v(`token answer key "${k}" is not documented`);
      else if (typeof val !== want) v(`/${k} must be a ${want}`);
    }
    const optional = new Set(['refresh_token']);
    const missing = Object.keys(s.tokenTypes).filter((k) => !optional.has(k) && !(k in body));
    if (missing.length) v(`token answer lacks documented keys: ${missing.join(', ')}`);
    return out;
  }

  private checkError(body: unknown, v: (m: string) => void): void {
    const s = this.shapes;
    if (!isObj(body)) return v('error response has no JSON object body');
    if (sorted(body).join() !== s.errorKeys.join()) v(`error envelope keys are ${sorted(body).join(', ')}, documented: ${s.errorKeys.join(', ')}`);
    if (!isObj(body.error) || sorted(body.error).join() !== s.errorInnerKeys.join()) v(`/error keys must be ${s.errorInnerKeys.join(', ')}`);
    else for (const k of s.errorInnerKeys) if (typeof body.error[k] !== 'string') v(`/error/${k} must be a string`);
    if (body.status !== s.errorStatus) v(`/status must be "${s.errorStatus}"`);
  }

  private checkOrderNow(body: unknown, v: (m: string) => void): void {
    if (!isObj(body) || !isObj(body.result)) return v('order_now answer must be {"result": {...}}');
    const r = body.result;
    if (sorted(r).join() !== this.shapes.orderNowKeys.join()) v(`order_now result keys are ${sorted(r).join(', ')}, documented: ${this.shapes.orderNowKeys.join(', ')}`);
    for (const [k, val] of Object.entries(r)) if (typeof val !== 'string') v(`/result/${k} must be a string`);
    if (r.table !== 'sc_request' || r.sys_id !== r.request_id || r.number !== r.request_number) v('order_now result must name the sc_request (sys_id = request_id, number = request_number)');
  }

  private checkTable(x: ServiceNowResponseExchange, template: string, v: (m: string, kind?: ServiceNowViolationKind) => void): void {
    const method = x.method.toUpperCase();
    if (method === 'DELETE') {
      if (x.status !== 204 || x.body !== undefined) v('DELETE answers 204 without a body');
      return;
    }
    const list = method === 'GET' && template === '/api/now/table/{tableName}';
    const body = x.body;
    if (!isObj(body) || sorted(body).join() !== 'result') return v('Table API answers {"result": ...}');
    if (list !== Array.isArray(body.result)) return v(list ? '/result must be an array' : '/result must be an object');
    const records = (list ? body.result : [body.result]) as unknown[];
    const table = decodeURIComponent(x.path.split('/')[4] ?? '');
    const dv = (x.query.get('sysparm_display_value') ?? 'false').toLowerCase();
    const noLink = (x.query.get('sysparm_exclude_reference_link') ?? 'false').toLowerCase() === 'true';
    const partial = x.query.has('sysparm_fields');
    records.forEach((r, n) => {
      const at = list ? `/result/${n}` : '/result';
      if (!isObj(r)) return v(`${at} must be an object`);
      if (!partial) {
        const required = TASK_TABLES.has(table) ? this.shapes.taskKeys : this.shapes.sysKeys;
        const missing = required.filter((k) => !(k in r));
        if (missing.length) v(`${at} lacks documented keys: ${missing.join(', ')}`);
      }
      for (const [k, val] of Object.entries(r)) {
        const problem = this.valueProblem(val, dv, noLink);
        if (problem) v(`${at}/${k}: ${problem}`);
        if ((k === 'sys_created_on' || k === 'sys_updated_on') && dv === 'false' && typeof val === 'string' && val !== '' && !this.shapes.dateTime.test(val)) {
          v(`${at}/${k}: "${val}" is not in the documented format`);
        }
      }
    });
    if (list) {
      const h = x.headers ?? {};
      const has = (n: string) => Object.keys(h).some((k) => k.toLowerCase() === n);
      if ((x.query.get('sysparm_no_count') ?? 'false') !== 'true' && !has('x-total-count')) v('list answer lacks X-Total-Count', 'missing-header');
      if ((x.query.get('sysparm_suppress_pagination_header') ?? 'false') !== 'true' && !has('link')) v('list answer lacks Link', 'missing-header');
    }
  }

  /** Why a value does not fit the display mode, or undefined when it does. */
  private valueProblem(val: unknown, dv: string, noLink: boolean): string | undefined {
    if (typeof val === 'string') return undefined;
    if (!isObj(val)) return `must be a string or an object (got ${val === null ? 'null' : typeof val})`;
    const keys = sorted(val).join();
    const strings = Object.values(val).every((x) => typeof x === 'string');
    if (!strings) return 'object members must be strings';
    const link = this.shapes.referenceKeys.includes('link');
    // false: references are the documented {link, value}; true: {display_value, link}; all: both.
    const allowed =
      dv === 'all'
        ? ['display_value,value', ...(noLink || !link ? [] : ['display_value,link,value'])]
        : dv === 'true'
          ? noLink
            ? []
            : ['display_value,link']
          : noLink
            ? []
            : [this.shapes.referenceKeys.join()];
    return allowed.includes(keys) ? undefined : `object with keys ${keys} does not fit sysparm_display_value=${dv}${noLink ? ' with links excluded' : ''}`;
  }
}

/**
 * Collects violations across a run. The sandbox calls {@link request} and {@link response} for
 * every /api exchange; a test asserts {@link violations} is empty at the end.
 */
export class ServiceNowContractRecorder {
  readonly violations: ServiceNowViolation[] = [];
  readonly exchanges: Array<{ method: string; path: string; status: number; template?: string }> = [];
  readonly contract: ServiceNowContract;

  /** Records against `contract` (default: {@link ServiceNowContract.load}). */
  constructor(contract: ServiceNowContract = ServiceNowContract.load()) {
    this.contract = contract;
  }

  /** Records one request; returns its violations. */
  request(x: ServiceNowRequestExchange): ServiceNowViolation[] {
    const v = this.contract.checkRequest(x);
    this.violations.push(...v);
    return v;
  }

  /** Records one response; returns its violations. */
  response(x: ServiceNowResponseExchange): ServiceNowViolation[] {
    const v = this.contract.checkResponse(x);
    this.exchanges.push({ method: x.method.toUpperCase(), path: x.path, status: x.status, template: this.contract.set.matchOperation(x.method, x.path)?.template });
    this.violations.push(...v);
    return v;
  }

  /** Records one token endpoint exchange; returns its violations. */
  token(x: ServiceNowTokenExchange): ServiceNowViolation[] {
    const v = this.contract.checkToken(x);
    this.exchanges.push({ method: x.method.toUpperCase(), path: '/oauth_token.do', status: x.status, template: '/oauth_token.do' });
    this.violations.push(...v);
    return v;
  }

  /** One line per violation. */
  report(): string {
    return this.violations.map((v) => `[${v.contract}] ${v.kind} ${v.method} ${v.path}${v.status ? ` -> ${v.status}` : ''}: ${v.message}`).join('\n');
  }

  /** Forgets everything seen so far. */
  clear(): void {
    this.violations.length = 0;
    this.exchanges.length = 0;
  }
}
