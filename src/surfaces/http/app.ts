import express, { type NextFunction, type Request as ExpressRequest, type Response, type Router } from 'express';
import type { Redis } from 'ioredis';
import type { Engine } from '../../workflow/engine.ts';
import type { AuditContext } from '../../engine/audit.ts';
import type { Actor, DriftFinding, Package } from '../../engine/model.ts';
import { openFindings } from '../../engine/drift-merge.ts';
import type { DriftDesk } from '../../workflow/drift.ts';
import { TicketSurfaceError, UserError, ValidationError, BundleError, type FieldIssue } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import type { Metrics } from '../../engine/metrics.ts';
import { QueryCatalog } from '../../workflow/queries.ts';
import { maskRequest } from '../../workflow/secrets.ts';
import { limitJsonDepth } from './json-depth.ts';
import type { components } from './openapi-types.ts';
import type { RequestWorkflow } from '../../workflow/workflow.ts';
import type { DeadLetters } from '../../queue/dead-letters.ts';
import type { NoticeDeadLetters } from '../../queue/notice-dead-letters.ts';
import { NotAuthenticatedError, type Authorizer } from '../../workflow/authorize.ts';
import { allow, authenticate, metricsAccess, principalOf, wwwAuthenticate, type HttpAuthenticator } from './auth.ts';
import type { FreezeDesk } from '../../workflow/freeze.ts';
import { freezesRouter } from './freeze-routes.ts';
import { stacksRouter } from './stack-routes.ts';
import type { StackDesk } from '../../workflow/stacks.ts';

type ErrorBody = components['schemas']['Error'];

/** What the HTTP surface needs. */
export interface HttpAppDeps {
  engine: Engine;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  /** Extra routers mounted before the API (the ticket surfaces' webhook endpoints). */
  mount?: (app: express.Express) => void;
  /** The request workflow, for filing and approving requests through the API. */
  workflow?: RequestWorkflow;
  /** Deliveries intake gave up on: listed and replayed under `/v1/deliveries`, counted in `/metrics`. */
  deliveries?: Pick<DeadLetters, 'list' | 'replay' | 'count'>;
  /** Ticket writes the outbox gave up on: listed and replayed under `/v1/notices`. */
  notices?: Pick<NoticeDeadLetters, 'list' | 'replay'>;
  /** Who is calling: API tokens and OpenID Connect tokens. */
  auth: HttpAuthenticator;
  /** What they may do. */
  authorizer: Authorizer;
  /** Freezing and lifting environments (`/v1/freezes`, `/v1/environments/:id/freeze`). */
  freezes?: FreezeDesk;
  /** Stacks and their leases (`/v1/stacks`). */
  stacks?: StackDesk;
  /** When set, `/metrics` needs it as a bearer token. */
  metricsToken?: string;
  /** The drift desk, for `POST /packages/{id}/drift-check`. */
  drift?: Pick<DriftDesk, 'check'>;
}

const STATUS_BY_CODE: Record<string, number> = {
  validation: 400,
  bad_bundle: 400,
  unresolved_ref: 400,
  not_found: 404,
  conflict: 409,
  illegal_transition: 409,
  policy_denied: 403,
  unauthorized: 401,
  forbidden: 403,
  deployment_failed: 422,
  config: 500,
};

/** The HTTP status and JSON body of an error; system errors say nothing of their cause. */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof UserError) {
    const issues: FieldIssue[] | undefined = err instanceof ValidationError || err instanceof BundleError ? err.issues : undefined;
    return {
      status: STATUS_BY_CODE[err.code] ?? 400,
      body: { error: { code: err.code, message: err.message, ...(issues ? { issues } : {}) } },
    };
  }
  // body-parser's own errors carry a 4xx status and a `type`; their messages name no secret.
  const bp = err as { status?: unknown; type?: unknown };
  if (typeof bp?.status === 'number' && bp.status >= 400 && bp.status < 500) {
    const message =
      bp.type === 'entity.too.large'
        ? 'request body is larger than the limit'
        : bp.type === 'entity.parse.failed'
          ? 'request body is not valid JSON'
          : 'request body could not be read';
    return { status: bp.status, body: { error: { code: 'validation', message } } };
  }
  const code = err instanceof TicketSurfaceError ? err.code : 'system';
  return { status: 500, body: { error: { code, message: 'internal error; see the service log' } } };
}

/** Who is acting in an API call: the authenticated person (see auth.ts); no header names them. */
function ctxOf(res: Response): AuditContext {
  return { actor: principalOf(res).account, surface: 'http' };
}

function body(req: ExpressRequest): Record<string, unknown> {
  const b = req.body as unknown;
  if (!b || typeof b !== 'object' || Array.isArray(b)) {
    throw new ValidationError('request body must be a JSON object', [{ pointer: '', message: 'must be a JSON object' }]);
  }
  return b as Record<string, unknown>;
}

function requireString(b: Record<string, unknown>, key: string, issues: FieldIssue[]): string {
  const v = b[key];
  if (typeof v !== 'string' || v === '') issues.push({ pointer: `/${key}`, field: key, message: 'is required (a string)' });
  return typeof v === 'string' ? v : '';
}

function check(issues: FieldIssue[]): void {
  if (issues.length) throw new ValidationError(`request body is invalid: ${issues.map((i) => `${i.pointer} ${i.message}`).join('; ')}`, issues);
}

/** Bundles and their attestations: `/bundles`, `/bundles/{name}/versions/{version}[/attestations]`. */
function bundlesRouter(engine: Engine, authz: Authorizer): Router {
  const r = express.Router();
  r.get('/bundles', (_req, res) => {
    res.json({ bundles: engine.listBundles() });
  });
  r.get('/bundles/:name/versions/:version', async (req, res) => {
    const b = engine.getBundle(req.params.name, req.params.version);
    const attestations = await engine.listAttestations(b.name, b.version);
    res.json({
      name: b.name,
      version: b.version,
      description: b.description,
      params: b.params,
      connections: b.connections,
      artifacts: b.artifacts,
      connectionTypes: b.connectionTypes,
      artifactTypes: b.artifactTypes,
      attestations,
    });
  });
  r.get('/bundles/:name/versions/:version/attestations', async (req, res) => {
    res.json({ attestations: await engine.listAttestations(req.params.name, req.params.version) });
  });
  r.post('/bundles/:name/versions/:version/attestations', allow(authz, 'bundle.attest'), async (req, res) => {
    const b = body(req);
    const issues: FieldIssue[] = [];
    const kind = requireString(b, 'kind', issues);
    const by = requireString(b, 'by', issues);
    check(issues);
    const note = typeof b.note === 'string' ? b.note : undefined;
    res.status(201).json(await engine.attest(req.params.name, req.params.version, kind, by, ctxOf(res), note));
  });
  return r;
}

/** Projects and their environments: `/projects`, `/environments`. */
function projectsRouter(engine: Engine, authz: Authorizer): Router {
  const r = express.Router();
  r.get('/projects', async (_req, res) => {
    res.json({ projects: await engine.listProjects() });
  });
  r.post('/projects', allow(authz, 'project.create'), async (req, res) => {
    const b = body(req);
    const issues: FieldIssue[] = [];
    const id = requireString(b, 'id', issues);
    check(issues);
    res.status(201).json(
      await engine.createProject(
        { id, name: typeof b.name === 'string' ? b.name : id, ...(typeof b.description === 'string' ? { description: b.description } : {}) },
        ctxOf(res),
      ),
    );
  });
  r.get('/environments', async (req, res) => {
    const project = typeof req.query.project === 'string' ? req.query.project : undefined;
    res.json({ environments: await engine.listEnvironments(project ? { project } : {}) });
  });
  r.post('/environments', allow(authz, 'environment.create'), async (req, res) => {
    const b = body(req);
    const issues: FieldIssue[] = [];
    const project = requireString(b, 'project', issues);
    const name = requireString(b, 'name', issues);
    if (b.labels !== undefined && (typeof b.labels !== 'object' || b.labels === null || Array.isArray(b.labels))) {
      issues.push({ pointer: '/labels', field: 'labels', message: 'must be an object of string, number or boolean values' });
    }
    check(issues);
    res.status(201).json(await engine.createEnvironment({ project, name, labels: (b.labels ?? {}) as Record<string, string> }, ctxOf(res)));
  });
  return r;
}

/** Packages, created and edited directly (no ticket): `/packages`, `/packages/{id}`. */
function packagesRouter(engine: Engine, authz: Authorizer): Router {
  const r = express.Router();
  r.get('/packages', async (req, res) => {
    const f: Record<string, string> = {};
    for (const k of ['project', 'environment', 'bundle'] as const) if (typeof req.query[k] === 'string') f[k] = req.query[k] as string;
    res.json({ packages: await engine.listPackages(f) });
  });
  r.post('/packages', allow(authz, 'package.write'), async (req, res) => {
    const b = body(req);
    const issues: FieldIssue[] = [];
    const project = requireString(b, 'project', issues);
    const environment = requireString(b, 'environment', issues);
    const name = requireString(b, 'name', issues);
    const bundle = requireString(b, 'bundle', issues);
    if (typeof b.params !== 'object' || b.params === null || Array.isArray(b.params)) {
      issues.push({ pointer: '/params', field: 'params', message: 'is required (an object)' });
    }
    check(issues);
    const pkg = await engine.createPackage(
      {
        project,
        environment,
        name,
        bundle,
        ...(typeof b.version === 'string' ? { version: b.version } : {}),
        params: b.params as Record<string, unknown>,
        ...(b.connections && typeof b.connections === 'object' ? { connections: b.connections as never } : {}),
      },
      ctxOf(res),
    );
    res.status(201).json(engine.maskPackage(pkg));
  });
  r.get('/packages/:id', async (req, res) => {
    res.json(await engine.getPackage(req.params.id));
  });
  r.patch('/packages/:id', allow(authz, 'package.write'), async (req, res) => {
    const b = body(req);
    const issues: FieldIssue[] = [];
    if (!Number.isInteger(b.revision)) issues.push({ pointer: '/revision', field: 'revision', message: 'is required (the revision you read)' });
    if (typeof b.params !== 'object' || b.params === null || Array.isArray(b.params)) {
      issues.push({ pointer: '/params', field: 'params', message: 'is required (an object)' });
    }
    check(issues);
    const pkg = await engine.updatePackageParams(req.params.id, b.revision as number, b.params as Record<string, unknown>, ctxOf(res));
    res.json(engine.maskPackage(pkg));
  });
  return r;
}

/** `findings` with the values of every param the masked package `shown` masks replaced by its mask. */
function maskFindings(raw: Package, shown: Package, findings: DriftFinding[]): DriftFinding[] {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return findings.map((f) => {
    const member = (['observedParams', 'desiredParams', 'lastAppliedParams'] as const).find((m) => !same(raw[m]?.[f.field], shown[m]?.[f.field]));
    if (!member) return f;
    const mask = shown[member]?.[f.field];
    return { ...f, ...(f.lastApplied !== undefined ? { lastApplied: mask } : {}), ...(f.desired !== undefined ? { desired: mask } : {}), ...(f.observed !== undefined ? { observed: mask } : {}) };
  });
}

/** Drift: `POST /packages/{id}/drift-check` reads reality (never changes it) and answers what differs. */
function driftRouter(engine: Engine, authz: Authorizer, drift: NonNullable<HttpAppDeps['drift']>): Router {
  const r = express.Router();
  r.post('/packages/:id/drift-check', allow(authz, 'drift.check'), async (req, res) => {
    const outcome = await drift.check(req.params.id, { actor: authz.actorOf(principalOf(res)), surface: 'http' });
    const findings = maskFindings(outcome.package, engine.maskPackage(outcome.package), outcome.findings);
    const inSync = !outcome.error && openFindings(findings).length === 0;
    res.json({ package: outcome.package.id, inSync, changed: outcome.changed, findings, ...(outcome.error ? { error: { ...(outcome.error.step ? { step: outcome.error.step } : {}), message: outcome.error.message } } : {}) });
  });
  return r;
}

/** The body of `POST /requests` as the workflow takes it; answers carry the request's own fields too. */
function submissionOf(b: Record<string, unknown>, actor: Actor): Parameters<RequestWorkflow['submit']>[0] {
  const issues: FieldIssue[] = [];
  const project = requireString(b, 'project', issues);
  const environment = requireString(b, 'environment', issues);
  const bundle = requireString(b, 'bundle', issues);
  const pkg = requireString(b, 'package', issues);
  const kind = typeof b.kind === 'string' ? b.kind : 'provision';
  if (!['provision', 'update', 'promote', 'decommission'].includes(kind)) issues.push({ pointer: '/kind', field: 'kind', message: 'must be provision, update, promote or decommission' });
  if (b.params !== undefined && (typeof b.params !== 'object' || b.params === null || Array.isArray(b.params))) {
    issues.push({ pointer: '/params', field: 'params', message: 'must be an object of answers keyed by param name' });
  }
  check(issues);
  return {
    kind: kind as 'provision',
    actor,
    origin: { surface: 'http', ref: `api-${Date.now().toString(36)}` },
    project,
    bundle,
    environment,
    packageName: pkg,
    ...(typeof b.version === 'string' ? { version: b.version } : {}),
    answers: { ...((b.params as Record<string, never>) ?? {}), request_environment: environment, request_package: pkg, ...(typeof b.version === 'string' ? { request_version: b.version } : {}) },
  };
}

/**
 * Requests: read them, and (when this process has the workflow) file and approve them through
 * the same workflow as a ticket (plan, policy, approval, window).
 */
function requestsRouter(engine: Engine, authz: Authorizer, workflow?: RequestWorkflow): Router {
  const r = express.Router();
  r.get('/requests', async (req, res) => {
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    res.json({ requests: await engine.listRequests(state ? { state: state as never } : {}) });
  });
  r.get('/requests/:id', async (req, res) => {
    res.json(maskRequest(engine.registry, await engine.getRequest(req.params.id)));
  });
  r.post('/requests', allow(authz, 'request.file'), async (req, res) => {
    if (!workflow) throw new ValidationError('requests cannot be filed through this process', [{ pointer: '', message: 'no workflow here' }]);
    const request = await workflow.submit(submissionOf(body(req), authz.actorOf(principalOf(res))));
    res.status(202).location(`/v1/requests/${request.id}`).json(maskRequest(engine.registry, request));
  });
  r.post('/requests/:id/approve', allow(authz, 'request.approve'), async (req, res) => {
    if (!workflow) throw new ValidationError('approvals cannot be made through this process', [{ pointer: '', message: 'no workflow here' }]);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const out = await workflow.approve({
      requestId: req.params.id,
      approver: authz.actorOf(principalOf(res)),
      surface: 'http',
      ...(typeof b.planHash === 'string' ? { planHash: b.planHash } : {}),
    });
    res.status(out.counted ? 200 : 403).json({ counted: out.counted, message: out.message, satisfied: out.satisfied, request: maskRequest(engine.registry, out.request) });
  });
  return r;
}

/** Read-only queries: the same catalog the CLI and the ticket surfaces answer from. */
function queriesRouter(engine: Engine): Router {
  const r = express.Router();
  const queries = new QueryCatalog(engine);
  r.get('/queries', (_req, res) => {
    res.json({ queries: queries.list() });
  });
  r.get('/queries/:name', async (req, res) => {
    const args: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.query)) {
      if (typeof value !== 'string') {
        throw new ValidationError(`query parameter ${key.slice(0, 60)} must be given once`, [{ pointer: `/${key.slice(0, 60)}`, field: key.slice(0, 60), message: 'must be given once' }]);
      }
      args[key] = value;
    }
    res.json(await queries.ask({ name: req.params.name, args }, ctxOf(res)));
  });
  return r;
}

/** The audit trail: `/audit` (filtered by subject or request) and `/audit/verify` (the hash chain). */
function auditRouter(engine: Engine): Router {
  const r = express.Router();
  r.get('/audit', async (req, res) => {
    const limit = req.query.limit ? Number(req.query.limit) : undefined;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
      throw new ValidationError('limit must be an integer from 1 to 1000', [{ pointer: '/limit', field: 'limit', message: 'must be an integer from 1 to 1000' }]);
    }
    let subject: { type: string; id: string } | undefined;
    if (typeof req.query.subject === 'string') {
      const [type, ...rest] = req.query.subject.split(':');
      subject = { type: type!, id: rest.join(':') };
    }
    const request = typeof req.query.request === 'string' ? req.query.request : undefined;
    res.json({ events: await engine.listAudit({ ...(limit ? { limit } : {}), ...(subject ? { subject } : {}), ...(request ? { request } : {}) }) });
  });
  r.get('/audit/verify', async (_req, res) => {
    const v = await engine.verifyAudit();
    res.status(v.ok ? 200 : 409).json(v);
  });
  return r;
}

/** Webhook deliveries intake gave up on: `/deliveries/failed` (readers), `/deliveries/{id}/replay` (admins). */
function deliveriesRouter(deliveries: NonNullable<HttpAppDeps['deliveries']>, authz: Authorizer, logger: Logger): Router {
  const r = express.Router();
  r.get('/deliveries/failed', async (_req, res) => {
    res.json({ deliveries: await deliveries.list() });
  });
  r.post('/deliveries/:id/replay', allow(authz, 'deliveries.replay'), async (req, res) => {
    const replayed = await deliveries.replay(req.params.id);
    logger.info({ delivery: replayed.id, job: replayed.jobId, actor: principalOf(res).person.id }, 'failed delivery replayed');
    res.status(202).json(replayed);
  });
  return r;
}

/** Ticket writes the outbox gave up on: `/notices/failed` (readers), `/notices/{id}/replay` (admins). */
function noticesRouter(notices: NonNullable<HttpAppDeps['notices']>, authz: Authorizer, logger: Logger): Router {
  const r = express.Router();
  r.get('/notices/failed', async (_req, res) => {
    res.json({ notices: await notices.list() });
  });
  r.post('/notices/:id/replay', allow(authz, 'notices.replay'), async (req, res) => {
    const replayed = await notices.replay(req.params.id);
    logger.info({ notice: replayed.id, job: replayed.jobId, actor: principalOf(res).person.id }, 'failed notice replayed');
    res.status(202).json(replayed);
  });
  return r;
}

/**
 * The v1 API (mounted at `/v1`): one router per resource group, every one on the same engine.
 * Every call is authenticated first and needs at least the reader role; a route that changes
 * something names its action with {@link allow}.
 */
function apiRouter(deps: HttpAppDeps): Router {
  const { engine, workflow, authorizer: authz } = deps;
  const r = express.Router();
  r.use(authenticate(deps.auth, authz));
  r.use(express.json({ limit: '1mb' }), limitJsonDepth());
  if (deps.deliveries) r.use(deliveriesRouter(deps.deliveries, authz, deps.logger));
  if (deps.notices) r.use(noticesRouter(deps.notices, authz, deps.logger));
  r.use(bundlesRouter(engine, authz));
  r.use(projectsRouter(engine, authz));
  r.use(packagesRouter(engine, authz));
  if (deps.drift) r.use(driftRouter(engine, authz, deps.drift));
  r.use(requestsRouter(engine, authz, workflow));
  if (deps.freezes) r.use(freezesRouter(deps.freezes, authz));
  if (deps.stacks && engine.stacks) r.use(stacksRouter(deps.stacks, engine.stacks));
  r.use(queriesRouter(engine));
  r.use(auditRouter(engine));
  return r;
}

/** Builds the Express 5 application: health, metrics, the v1 API and any mounted surfaces. */
export function createHttpApp(deps: HttpAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // API answers are small and never revalidated: hashing every body for an ETag is wasted CPU.
  app.set('etag', false);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      deps.metrics.observe('ts_http_request_duration_seconds', 'HTTP request duration', seconds, {
        method: req.method,
        route: `${req.baseUrl}${route}`,
        status: String(res.statusCode),
      });
    });
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const pong = await Promise.race([
        deps.redis.ping(),
        new Promise<string>((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000)),
      ]);
      if (pong !== 'PONG') throw new Error('unexpected reply');
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable', detail: 'redis is not reachable' });
    }
  });
  app.get('/metrics', metricsAccess(deps.metricsToken), async (_req, res) => {
    const dead = await deps.deliveries?.count().catch(() => undefined);
    if (dead !== undefined) deps.metrics.set('ts_deliveries_dead', 'Webhook deliveries intake gave up on, awaiting replay', dead);
    res.type('text/plain; version=0.0.4').send(deps.metrics.render());
  });
  deps.mount?.(app);
  app.use('/v1', apiRouter(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use((err: unknown, req: ExpressRequest, res: Response, _next: NextFunction) => {
    const { status, body } = errorResponse(err);
    if (err instanceof NotAuthenticatedError) res.set('WWW-Authenticate', wwwAuthenticate(err));
    if (status >= 500) deps.logger.error({ err, path: req.path }, 'request failed');
    res.status(status).json(body);
  });
  return app;
}
