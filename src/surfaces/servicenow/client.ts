/**
 * The service's ServiceNow client: a small axios edge over the Table API (and any other REST
 * path through {@link ServiceNowClient.api}). Basic authentication or OAuth 2.0 (see `auth.ts`:
 * a refused access token is renewed and the call tried once more); every answer's
 * `{"result": ...}` envelope is zod-parsed here, so callers only see validated shapes; every
 * failure becomes one of the typed errors of `errors.ts`, built from the platform's
 * `{"error": {"message", "detail"}}` body (sanitized: the platform may echo input, and we never
 * echo credentials). Rate limits (429) are waited out in-process for short waits (`Retry-After`,
 * or `X-RateLimit-Reset` when that is missing) and surfaced as a retryable
 * {@link ServiceNowRateLimitedError} for long ones, the same policy as the Jira client.
 */
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import type { Logger } from '../../engine/logger.ts';
import { sanitize } from '../shared/sanitize.ts';
import { RemoteCaller, directHttp, parseAnswer, type RateLimitOptions } from '../shared/remote-call.ts';
import { serviceNowAuth, type ServiceNowAuth, type ServiceNowCredentials } from './auth.ts';
import { ServiceNowApiError, ServiceNowAuthError, ServiceNowResponseError, serviceNowErrors } from './errors.ts';
import { serviceNowFailure } from './rate-limit.ts';

export {
  ServiceNowApiError,
  ServiceNowAuthError,
  ServiceNowRateLimitedError,
  ServiceNowResponseError,
  ServiceNowUnavailableError,
} from './errors.ts';
export { serviceNowCredentials, type ServiceNowCredentials } from './auth.ts';

// ---------------------------------------------------------------------------------------------
// Shapes

/** A reference column as the Table API renders it without `sysparm_exclude_reference_link`. */
const referenceSchema = z.looseObject({ value: z.string() });
/** A display-value pair (`sysparm_display_value=all`). */
const displayPairSchema = z.looseObject({ display_value: z.string(), value: z.string().optional() });
/** One column value: a string, a reference or a display pair (everything is a string underneath). */
const columnSchema = z.union([z.string(), referenceSchema, displayPairSchema]);
/** One record as read: columns to values. */
export const recordSchema = z.record(z.string(), columnSchema);

/** A record as returned by the Table API (values are strings, references `{link, value}` unless excluded). */
export type ServiceNowRecord = z.infer<typeof recordSchema>;

/** A flattened record: every column its internal value as a string (references: the sys_id). */
export type ServiceNowRow = Record<string, string>;

/** Options of a Table API read. */
export interface TableQuery {
  /** Encoded query (`cat_item=abc^active=true`). */
  query?: string;
  /** Columns to return (default: all). */
  fields?: string[];
  /** Page size (default 500); every page is read. */
  pageSize?: number;
  /** Stop after this many rows. */
  max?: number;
  /** `true`: every column its display value (references by their display column, choices by label). */
  displayValue?: boolean;
}

/** Settings of {@link ServiceNowClient} (rate-limit waits: longer ones throw {@link ServiceNowRateLimitedError}). */
export interface ServiceNowClientOptions extends RateLimitOptions {
  /** Instance URL, for example https://example.service-now.com (or the sandbox's URL). */
  instanceUrl: string;
  /** Basic authentication, unless `credentials` says otherwise. */
  user?: string;
  password?: string;
  /** How to log in (Basic or OAuth); default Basic with `user` and `password`. */
  credentials?: ServiceNowCredentials;
  logger: Logger;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  /** Epoch ms now, for token expiry and the wait until `X-RateLimit-Reset`; injected by tests that move time. */
  now?: () => number;
}

/** The internal value of one column as read (a reference's sys_id, a display pair's value). */
export function columnValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const o = v as { value?: unknown; display_value?: unknown };
    if (typeof o.value === 'string') return o.value;
    if (typeof o.display_value === 'string') return o.display_value;
  }
  return String(v);
}

/** Flattens a record read from the Table API to internal string values. */
export function flattenRecord(r: ServiceNowRecord): ServiceNowRow {
  const out: ServiceNowRow = {};
  for (const [k, v] of Object.entries(r)) out[k] = columnValue(v);
  return out;
}

/** Turns values to write into the strings the platform stores (booleans `true`/`false`, numbers as text). */
export function toWriteValues(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) continue;
    out[k] = v === null ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

const tablePath = (table: string, sysId?: string) => {
  if (!/^[a-z0-9_]+$/i.test(table)) throw new ServiceNowApiError('validation', 400, `table ${table.slice(0, 40)}`, ['not a table name']);
  if (sysId !== undefined && !/^[0-9a-f]{32}$/i.test(sysId)) throw new ServiceNowApiError('validation', 400, `${table} record`, ['not a sys_id']);
  return `/api/now/table/${table}${sysId ? `/${sysId}` : ''}`;
};

/**
 * A ServiceNow Table API client. Reads come back flattened ({@link ServiceNowRow}: references as
 * sys_ids, because reads ask `sysparm_exclude_reference_link=true`); writes send every value as a
 * string, as the platform stores them.
 */
export class ServiceNowClient {
  private readonly http: AxiosInstance;
  private readonly remote: RemoteCaller;
  private readonly auth: ServiceNowAuth;

  constructor(options: ServiceNowClientOptions) {
    this.http = axios.create({
      baseURL: options.instanceUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs ?? 15_000,
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      ...directHttp(),
    });
    const logger = options.logger.child({ component: 'servicenow-client' });
    const credentials = options.credentials ?? { kind: 'basic', user: options.user ?? '', password: options.password ?? '' };
    this.auth = serviceNowAuth({ ...options, credentials, logger });
    this.remote = new RemoteCaller({ ...options, system: 'servicenow', logger, errors: serviceNowErrors(this.auth.settings), describe: (err) => serviceNowFailure(err, serviceNowMessages, options.now ?? Date.now) });
  }

  /** Every record of `table` matching the query (all pages), flattened. */
  async list(table: string, q: TableQuery = {}): Promise<ServiceNowRow[]> {
    const pageSize = Math.max(1, Math.min(q.pageSize ?? 500, 10_000));
    const out: ServiceNowRow[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const params: Record<string, string> = {
        sysparm_exclude_reference_link: 'true',
        sysparm_limit: String(pageSize),
        sysparm_offset: String(offset),
        sysparm_no_count: 'true',
      };
      if (q.query) params.sysparm_query = q.query;
      if (q.fields?.length) params.sysparm_fields = q.fields.join(',');
      if (q.displayValue) params.sysparm_display_value = 'true';
      const page = await this.api('GET', tablePath(table), z.array(recordSchema), { params });
      out.push(...page.map(flattenRecord));
      if (page.length < pageSize || (q.max !== undefined && out.length >= q.max)) break;
    }
    return q.max !== undefined ? out.slice(0, q.max) : out;
  }

  /**
   * The first record of `table` matching `query` (or undefined) with the instance's `Date`
   * header: a one-row read that proves the table may be read and shows the instance's clock
   * (the doctor compares it with ours).
   */
  async probe(table: string, query = '', fields: string[] = ['sys_id']): Promise<{ row?: ServiceNowRow; date?: string }> {
    const path = tablePath(table);
    const op = `GET ${path}`;
    const params: Record<string, string> = { sysparm_exclude_reference_link: 'true', sysparm_limit: '1', sysparm_no_count: 'true', sysparm_fields: fields.join(',') };
    if (query) params.sysparm_query = query;
    const res = await this.authorized((authorization) =>
      this.remote.call(op, async () => {
        const r = await this.http.request({ method: 'GET', url: path, params, headers: { Authorization: authorization } });
        return { data: r.data as unknown, date: typeof r.headers.date === 'string' ? r.headers.date : undefined };
      }),
    );
    const envelope = z.looseObject({ result: z.unknown() }).safeParse(res.data);
    if (!envelope.success) throw new ServiceNowResponseError(op, 'no {"result": ...} envelope');
    const rows = this.parse(op, z.array(recordSchema), envelope.data.result);
    return { ...(rows[0] ? { row: flattenRecord(rows[0]) } : {}), ...(res.date ? { date: res.date } : {}) };
  }

  /** One record, or undefined when it does not exist (404). */
  async get(table: string, sysId: string, fields?: string[]): Promise<ServiceNowRow | undefined> {
    const params: Record<string, string> = { sysparm_exclude_reference_link: 'true' };
    if (fields?.length) params.sysparm_fields = fields.join(',');
    try {
      return flattenRecord(await this.api('GET', tablePath(table, sysId), recordSchema, { params }));
    } catch (err) {
      if (err instanceof ServiceNowApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Inserts a record; returns it flattened (with its new `sys_id`). */
  async create(table: string, values: Record<string, unknown>): Promise<ServiceNowRow & { sys_id: string }> {
    const row = flattenRecord(
      await this.api('POST', tablePath(table), recordSchema, { params: { sysparm_exclude_reference_link: 'true' }, data: toWriteValues(values) }),
    );
    if (!row.sys_id) throw new ServiceNowResponseError(`POST ${tablePath(table)}`, 'the created record has no sys_id');
    return row as ServiceNowRow & { sys_id: string };
  }

  /** Updates only the given columns of a record (PATCH); returns it flattened. */
  async update(table: string, sysId: string, values: Record<string, unknown>): Promise<ServiceNowRow> {
    return flattenRecord(
      await this.api('PATCH', tablePath(table, sysId), recordSchema, { params: { sysparm_exclude_reference_link: 'true' }, data: toWriteValues(values) }),
    );
  }

  /**
   * Any REST call of the instance, with the same 429 handling and typed errors; the `result` of
   * the answer's envelope is parsed with `schema` (an empty 204 parses `undefined`).
   */
  async api<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    schema: S,
    opts: { params?: Record<string, string>; data?: unknown } = {},
  ): Promise<z.infer<S>> {
    const op = `${method} ${path.replace(/\/[0-9a-f]{32}(?=\/|$)/gi, '/{sys_id}')}`;
    const res = await this.authorized((authorization) =>
      this.remote.call(op, async () => {
        const r = await this.http.request({ method, url: path, params: opts.params, data: opts.data, headers: { Authorization: authorization } });
        return { status: r.status, data: r.data as unknown };
      }),
    );
    if (res.status === 204) return this.parse(op, schema, undefined);
    const envelope = z.looseObject({ result: z.unknown() }).safeParse(res.data);
    if (!envelope.success) throw new ServiceNowResponseError(op, 'no {"result": ...} envelope');
    return this.parse(op, schema, envelope.data.result);
  }

  /**
   * Runs `call` with the current `Authorization`; when the instance refuses it (401) and the
   * login can renew it (an OAuth access token), once more with a new one.
   */
  private async authorized<T>(call: (authorization: string) => Promise<T>): Promise<T> {
    const first = await this.auth.authorization();
    try {
      return await call(first);
    } catch (err) {
      if (!(err instanceof ServiceNowAuthError) || !this.auth.refused(first)) throw err;
      return call(await this.auth.authorization());
    }
  }

  private parse<S extends z.ZodType>(op: string, schema: S, value: unknown): z.infer<S> {
    return parseAnswer(schema, value, (detail) => new ServiceNowResponseError(op, detail), '/result');
  }
}

/** The platform's `{"error": {"message", "detail"}, "status": "failure"}` as plain messages. */
function serviceNowMessages(data: unknown): string[] {
  if (!data || typeof data !== 'object') return [];
  const e = (data as { error?: unknown }).error;
  if (!e || typeof e !== 'object') return [];
  const { message, detail } = e as { message?: unknown; detail?: unknown };
  return [message, detail].filter((m): m is string => typeof m === 'string' && m.trim() !== '').map((m) => sanitize(m).slice(0, 500));
}
