/**
 * Checks HTTP exchanges against an OpenAPI 3 document: does the spec have this path and method,
 * does it declare this status, and does the body match the declared schema. Sandboxes (Jira now,
 * ServiceNow later) run every response they produce through a {@link ContractRecorder} so a test
 * fails the moment a sandbox drifts from the vendor's published contract.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

/** The parts of an OpenAPI 3 document this checker reads. */
export interface OpenApiDocument {
  openapi?: string;
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, unknown>>;
  components?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What kind of mismatch a violation is. */
export type ViolationKind =
  | 'unknown-path'
  | 'unknown-method'
  | 'undeclared-status'
  | 'missing-body'
  | 'response-schema'
  | 'request-schema';

/** One mismatch between an exchange and the contract. */
export interface ContractViolation {
  /** Name of the contract (document) that judged it, or `none` when no document has the path. */
  contract: string;
  kind: ViolationKind;
  method: string;
  /** Concrete request path (no query string). */
  path: string;
  /** Matched path template, when one matched. */
  template?: string;
  operationId?: string;
  status?: number;
  /** Plain-words summary naming the JSON pointers that failed. */
  message: string;
  /** Raw ajv errors for schema violations. */
  errors?: ErrorObject[];
}

/** An operation found for a concrete method and path. */
export interface MatchedOperation {
  template: string;
  method: string;
  operationId?: string;
  /** Path parameters by name, decoded. */
  params: Record<string, string>;
  /** The operation object as written in the document. */
  operation: Record<string, unknown>;
}

/** Options of {@link OpenApiContract}. */
export interface OpenApiContractOptions {
  /** Label used in violations; defaults to the document's `info.title`. */
  name?: string;
  /**
   * Statuses any operation may answer even where the document does not declare them. Jira's
   * rate limiter answers 429 on every operation although only a handful declare it.
   */
  globalStatuses?: number[];
}

interface CompiledTemplate {
  template: string;
  regex: RegExp;
  names: string[];
  literalSegments: number;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

/** Escapes one JSON pointer segment and makes it safe inside a URI fragment. */
function pointerSegment(segment: string): string {
  return encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));
}

/** Renders ajv errors as `"/pointer: message"` lines; values themselves never appear. */
function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors?.length) return 'schema mismatch';
  return errors
    .slice(0, 8)
    .map((e) => {
      // ajv's additionalProperties message does not say which property; name it.
      const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
      return `${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
    })
    .join('; ');
}

/**
 * One OpenAPI 3 document, ready to judge exchanges. Schemas are compiled lazily per
 * (operation, status) and cached, so loading the 2.4 MB Jira platform document stays cheap.
 */
export class OpenApiContract {
  readonly name: string;
  private readonly document: OpenApiDocument;
  private readonly ajv: Ajv;
  private readonly documentId: string;
  private readonly templates: CompiledTemplate[];
  private readonly basePath: string;
  private readonly globalStatuses: Set<number>;
  private readonly validators = new Map<string, ValidateFunction | null>();

  /** Builds a contract from a parsed document. */
  constructor(document: OpenApiDocument, options: OpenApiContractOptions = {}) {
    if (!document || typeof document !== 'object' || typeof document.paths !== 'object') {
      throw new Error('OpenAPI document has no "paths" object');
    }
    this.document = document;
    const info = (document.info ?? {}) as { title?: string };
    this.name = options.name ?? info.title ?? 'openapi';
    this.globalStatuses = new Set(options.globalStatuses ?? []);
    this.documentId = `urn:openapi-contract:${encodeURIComponent(this.name)}`;
    // strict:false because OpenAPI adds keywords (xml, example, discriminator, x-*) that are not
    // JSON Schema; ajv's own `nullable` support covers OpenAPI 3.0's nullable.
    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats(this.ajv);
    // OpenAPI numeric formats carry no extra constraint worth checking here.
    for (const f of ['int32', 'int64', 'float', 'double', 'byte', 'binary', 'password']) this.ajv.addFormat(f, true);
    // Jira writes offsets without a colon ("2021-01-17T12:34:00.000+0000"), its own examples
    // included; RFC 3339 strictness would reject the real product.
    this.ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/i);
    this.ajv.addSchema({ ...document, $id: this.documentId });
    const serverUrl = document.servers?.[0]?.url;
    this.basePath = serverUrl ? new URL(serverUrl, 'http://placeholder').pathname.replace(/\/$/, '') : '';
    this.templates = Object.keys(document.paths)
      .map((template) => {
        const names: string[] = [];
        const segments = template.split('/');
        const pattern = segments
          .map((seg) =>
            seg.replace(/\{([^}]+)\}|[^{]+/g, (part, name: string | undefined) => {
              if (name) {
                names.push(name);
                return '([^/]+)';
              }
              return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
            }),
          )
          .join('/');
        return {
          template,
          regex: new RegExp(`^${pattern}/?$`),
          names,
          literalSegments: segments.filter((s) => s && !s.includes('{')).length,
        };
      })
      // A literal segment beats a parameter: /screens/tabs before /screens/{screenId}.
      .sort((a, b) => b.literalSegments - a.literalSegments || a.names.length - b.names.length);
  }

  /** Loads a document from a JSON file. */
  static fromFile(file: string | URL, options: OpenApiContractOptions = {}): OpenApiContract {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read OpenAPI document ${String(file)}: ${(err as Error).message}`);
    }
    return new OpenApiContract(parsed as OpenApiDocument, options);
  }

  /** Strips the query string and the server's base path. */
  private normalizePath(path: string): string {
    let p = path.split('?')[0] ?? '';
    if (this.basePath && p.startsWith(this.basePath + '/')) p = p.slice(this.basePath.length);
    return p;
  }

  /** True when some path template of the document matches `path` (any method). */
  hasPath(path: string): boolean {
    const p = this.normalizePath(path);
    return this.templates.some((t) => t.regex.test(p));
  }

  /** Finds the operation for a concrete method and path; undefined when there is none. */
  matchOperation(method: string, path: string): MatchedOperation | undefined {
    const p = this.normalizePath(path);
    const m = method.toLowerCase();
    for (const t of this.templates) {
      const hit = t.regex.exec(p);
      if (!hit) continue;
      const item = this.document.paths[t.template] ?? {};
      const operation = item[m];
      if (!operation || typeof operation !== 'object') continue;
      const params: Record<string, string> = {};
      t.names.forEach((n, i) => {
        params[n] = decodeURIComponent(hit[i + 1] ?? '');
      });
      return {
        template: t.template,
        method: m,
        operationId: (operation as { operationId?: string }).operationId,
        params,
        operation: operation as Record<string, unknown>,
      };
    }
    return undefined;
  }

  /** Methods the document declares for the first template matching `path`. */
  private methodsFor(path: string): string[] {
    const p = this.normalizePath(path);
    const t = this.templates.find((x) => x.regex.test(p));
    return t ? Object.keys(this.document.paths[t.template] ?? {}).filter((k) => HTTP_METHODS.has(k)) : [];
  }

  /** Picks the declared response for a status: exact code, then `4XX`-style range, then `default`. */
  private responseKey(responses: Record<string, unknown>, status: number): string | undefined {
    const exact = String(status);
    if (exact in responses) return exact;
    const range = `${String(status)[0]}XX`;
    const rangeKey = Object.keys(responses).find((k) => k.toUpperCase() === range);
    if (rangeKey) return rangeKey;
    return 'default' in responses ? 'default' : undefined;
  }

  /** Compiles (once) the JSON schema of one response or request body, or null when none is declared. */
  private validatorFor(pointer: string[], cacheKey: string): ValidateFunction | null {
    if (this.validators.has(cacheKey)) return this.validators.get(cacheKey) ?? null;
    let node: unknown = this.document;
    for (const seg of pointer) node = (node as Record<string, unknown> | undefined)?.[seg];
    let validator: ValidateFunction | null = null;
    if (node && typeof node === 'object' && Object.keys(node).length > 0) {
      validator = this.ajv.compile({ $ref: `${this.documentId}#/${pointer.map(pointerSegment).join('/')}` });
    }
    this.validators.set(cacheKey, validator);
    return validator;
  }

  /** The JSON media type key of a content map (`application/json`, `application/json;charset=UTF-8`, `*\/*`). */
  private jsonMediaType(content: Record<string, unknown> | undefined): string | undefined {
    if (!content) return undefined;
    const keys = Object.keys(content);
    return keys.find((k) => k.startsWith('application/json')) ?? keys.find((k) => k === '*/*') ?? keys.find((k) => k.includes('json'));
  }

  /**
   * Judges one response. `body` is the parsed JSON body, or undefined when the response had none.
   * Returns every violation found (empty when the exchange matches the contract).
   */
  checkResponse(exchange: { method: string; path: string; status: number; body?: unknown }): ContractViolation[] {
    const { method, status, body } = exchange;
    const path = this.normalizePath(exchange.path);
    const base = { contract: this.name, method: method.toUpperCase(), path, status };
    const match = this.matchOperation(method, path);
    if (!match) {
      if (this.hasPath(path)) {
        return [
          {
            ...base,
            kind: 'unknown-method',
            message: `${base.method} is not an operation of ${path} (declared: ${this.methodsFor(path).join(', ').toUpperCase()})`,
          },
        ];
      }
      return [{ ...base, kind: 'unknown-path', message: `no path of ${this.name} matches ${path}` }];
    }
    const where = { ...base, template: match.template, operationId: match.operationId };
    const responses = (match.operation.responses ?? {}) as Record<string, unknown>;
    // Some generators (ServiceNow's) publish operations without any responses: nothing to judge.
    if (Object.keys(responses).length === 0) return [];
    const key = this.responseKey(responses, status);
    if (!key) {
      if (this.globalStatuses.has(status)) return [];
      return [
        {
          ...where,
          kind: 'undeclared-status',
          message: `${match.operationId ?? match.template} does not declare status ${status} (declared: ${Object.keys(responses).join(', ')})`,
        },
      ];
    }
    const content = (responses[key] as { content?: Record<string, unknown> }).content;
    const media = this.jsonMediaType(content);
    if (!media) return [];
    const pointer = ['paths', match.template, match.method, 'responses', key, 'content', media, 'schema'];
    const validate = this.validatorFor(pointer, `res ${match.method} ${match.template} ${key}`);
    if (!validate) return [];
    if (body === undefined) {
      return [{ ...where, kind: 'missing-body', message: `${match.operationId ?? match.template} ${status} declares a body, none was sent` }];
    }
    if (validate(body)) return [];
    const errors = [...(validate.errors ?? [])];
    return [{ ...where, kind: 'response-schema', message: describeErrors(errors), errors }];
  }

  /** Judges a JSON request body against the operation's declared request body schema. */
  checkRequest(exchange: { method: string; path: string; body?: unknown }): ContractViolation[] {
    const path = this.normalizePath(exchange.path);
    const match = this.matchOperation(exchange.method, path);
    const base = { contract: this.name, method: exchange.method.toUpperCase(), path };
    if (!match) {
      return [
        {
          ...base,
          kind: this.hasPath(path) ? 'unknown-method' : 'unknown-path',
          message: `no operation ${base.method} ${path} in ${this.name}`,
        },
      ];
    }
    const requestBody = match.operation.requestBody as { content?: Record<string, unknown> } | undefined;
    const media = this.jsonMediaType(requestBody?.content);
    if (!media || exchange.body === undefined) return [];
    const pointer = ['paths', match.template, match.method, 'requestBody', 'content', media, 'schema'];
    const validate = this.validatorFor(pointer, `req ${match.method} ${match.template}`);
    if (!validate || validate(exchange.body)) return [];
    const errors = [...(validate.errors ?? [])];
    return [
      {
        ...base,
        template: match.template,
        operationId: match.operationId,
        kind: 'request-schema',
        message: describeErrors(errors),
        errors,
      },
    ];
  }
}

/**
 * Several documents judged as one surface (Jira platform + JSM; ServiceNow's per-API exports).
 * A path goes to the first document that has it; a path no document has is a violation.
 */
export class ContractSet {
  readonly contracts: readonly OpenApiContract[];

  /** Combines contracts; order decides who judges a path two documents share. */
  constructor(contracts: OpenApiContract[]) {
    if (contracts.length === 0) throw new Error('ContractSet needs at least one contract');
    this.contracts = contracts;
  }

  /** The contract whose document has `path`, if any. */
  contractFor(path: string): OpenApiContract | undefined {
    return this.contracts.find((c) => c.hasPath(path));
  }

  /** See {@link OpenApiContract.checkResponse}; an unknown path is judged against the set. */
  checkResponse(exchange: { method: string; path: string; status: number; body?: unknown }): ContractViolation[] {
    const c = this.contractFor(exchange.path);
    if (!c) {
      const path = exchange.path.split('?')[0] ?? '';
      return [
        {
          contract: 'none',
          kind: 'unknown-path',
          method: exchange.method.toUpperCase(),
          path,
          status: exchange.status,
          message: `no document (${this.contracts.map((x) => x.name).join(', ')}) has a path matching ${path}`,
        },
      ];
    }
    return c.checkResponse(exchange);
  }

  /** See {@link OpenApiContract.matchOperation}. */
  matchOperation(method: string, path: string): MatchedOperation | undefined {
    return this.contractFor(path)?.matchOperation(method, path);
  }

  /** See {@link OpenApiContract.checkRequest}. */
  checkRequest(exchange: { method: string; path: string; body?: unknown }): ContractViolation[] {
    const c = this.contractFor(exchange.path);
    if (!c) {
      const path = exchange.path.split('?')[0] ?? '';
      return [{ contract: 'none', kind: 'unknown-path', method: exchange.method.toUpperCase(), path, message: `no document has a path matching ${path}` }];
    }
    return c.checkRequest(exchange);
  }
}

/** Something that judges exchanges: one contract or a set. */
export interface ExchangeJudge {
  checkResponse(exchange: { method: string; path: string; status: number; body?: unknown }): ContractViolation[];
  checkRequest(exchange: { method: string; path: string; body?: unknown }): ContractViolation[];
  matchOperation(method: string, path: string): MatchedOperation | undefined;
}

/** One exchange seen by a recorder, kept so a test can say which endpoints it exercised. */
export interface RecordedExchange {
  method: string;
  path: string;
  status: number;
  operationId?: string;
}

/**
 * Collects violations across a test run. A sandbox calls {@link ContractRecorder.response} for
 * every response it sends; the test asserts {@link ContractRecorder.violations} is empty at the end.
 */
export class ContractRecorder {
  readonly violations: ContractViolation[] = [];
  readonly exchanges: RecordedExchange[] = [];
  private readonly judge: ExchangeJudge;
  private readonly checkRequests: boolean;

  /**
   * @param judge the contract(s) to check against
   * @param options.checkRequests also validate JSON request bodies (off by default: a sandbox
   *   rejects bad input itself, and tests send bad input on purpose)
   */
  constructor(judge: ExchangeJudge, options: { checkRequests?: boolean } = {}) {
    this.judge = judge;
    this.checkRequests = options.checkRequests ?? false;
  }

  /** Records one request body; returns its violations (also kept). */
  request(exchange: { method: string; path: string; body?: unknown }): ContractViolation[] {
    if (!this.checkRequests) return [];
    const v = this.judge.checkRequest(exchange);
    this.violations.push(...v);
    return v;
  }

  /** Records one response; returns its violations (also kept). */
  response(exchange: { method: string; path: string; status: number; body?: unknown }): ContractViolation[] {
    const v = this.judge.checkResponse(exchange);
    this.exchanges.push({
      method: exchange.method.toUpperCase(),
      path: exchange.path.split('?')[0] ?? '',
      status: exchange.status,
      operationId: this.judge.matchOperation(exchange.method, exchange.path)?.operationId,
    });
    this.violations.push(...v);
    return v;
  }

  /** Human-readable list of the violations, one per line. */
  report(): string {
    return this.violations
      .map((v) => `[${v.contract}] ${v.kind} ${v.method} ${v.path}${v.status ? ` -> ${v.status}` : ''}: ${v.message}`)
      .join('\n');
  }

  /** Forgets everything seen so far. */
  clear(): void {
    this.violations.length = 0;
    this.exchanges.length = 0;
  }
}
