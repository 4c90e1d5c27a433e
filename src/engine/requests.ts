/**
 * The surface-agnostic request lifecycle on top of the inventory. Surfaces turn what a person
 * did into {@link CreateRequestInput}; the engine moves the request along the table in
 * `request-lifecycle.ts` with {@link RequestService.transition}, which appends to `history` and
 * writes a `request.transition` audit event in the same atomic step. Every write takes the
 * work it owes ({@link Owes}: notices for the ticket, steps to run), which lands in the outbox
 * in that same step: a request is never in a state without the work that state promised.
 */
import { z } from 'zod';
import { IllegalTransitionError, ValidationError, type FieldIssue } from './errors.ts';
import type { Actor, Origin, Request, RequestKind, RequestState, SurfaceName } from './model.ts';
import type { AuditContext } from './audit.ts';
import { environmentId, randomId, type Inventory, type ListFilters, type ListOptions, type PreparedWrite } from './inventory.ts';
import { canTransition } from './request-lifecycle.ts';
import type { OutboxEntry } from './outbox.ts';

export {
  REQUEST_STATES,
  REQUEST_TRANSITIONS,
  QUERY_EXTRA_TRANSITIONS,
  TERMINAL_STATES,
  canTransition,
  assertTransition,
  isTerminal,
} from './request-lifecycle.ts';

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const slug = (what: string) => z.string().min(1, `${what} is required`).regex(SLUG, `${what} must be lowercase letters, digits and single hyphens`);

const actorSchema = z.object({
  id: z.string().min(1, 'actor id is required'),
  displayName: z.string().optional(),
  email: z.string().optional(),
  person: z.string().optional(),
});

const originSchema = z.object({
  surface: z.enum(['jira', 'servicenow', 'http', 'cli', 'engine']),
  ref: z.string().min(1, 'origin ref (ticket key, sys_id...) is required'),
  url: z.string().optional(),
});

const createRequestSchema = z.object({
  kind: z.enum(['provision', 'update', 'promote', 'decommission', 'query']),
  actor: actorSchema,
  origin: originSchema,
  project: slug('project'),
  environment: slug('environment'),
  bundle: z.string().min(1, 'bundle is required'),
  version: z.string().min(1).optional(),
  package: slug('package').optional(),
  submitted: z.record(z.string(), z.unknown()).optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  query: z.object({ name: z.string().min(1), args: z.record(z.string(), z.unknown()) }).optional(),
  contentRevision: z.number().int().min(1).optional(),
});

/**
 * What a surface hands over to open a request. `environment` is an environment id
 * (`checkout-staging`) or a bare name (`staging`), which is expanded with the project.
 */
export interface CreateRequestInput {
  kind: RequestKind;
  actor: Actor;
  origin: Origin;
  project: string;
  environment: string;
  bundle: string;
  version?: string;
  package?: string;
  /** Values as the surface received them, kept so nothing is lost. */
  submitted?: Record<string, unknown>;
  /** Typed params, when the surface already mapped them. */
  params?: Record<string, unknown>;
  query?: { name: string; args: Record<string, unknown> };
  /** Set by {@link RequestService.revise}; 1 for a new request. */
  contentRevision?: number;
}

/** Request members a transition or patch may set (identity, state and history are the service's). */
export type RequestPatch = Partial<Omit<Request, 'id' | 'revision' | 'createdAt' | 'updatedAt' | 'state' | 'history' | 'kind' | 'actor' | 'origin'>>;

/**
 * The work a request write owes, worked out from the request as it will be stored (its id and
 * next revision name the work): written to the outbox in the same atomic step as the change.
 */
export type Owes = (request: Request) => readonly OutboxEntry[];

/** Options of {@link RequestService.transition}. */
export interface TransitionOptions {
  /** Actor id that caused the move (a person, or `engine`). */
  by: string;
  /** Surface the move came through (default `engine`). */
  surface?: SurfaceName;
  /** Why, in plain words; kept in history and on the audit event. */
  reason?: string;
  /** Members to set in the same write; an `undefined` value removes the member. */
  patch?: RequestPatch;
  /** Work the move owes (notices, jobs), stored with it atomically. */
  owes?: Owes;
  /** The request as the engine handed it to the caller: the move starts from it without reading it again (see the inventory's `UpdateOptions.current`). */
  current?: Request;
}

/** Validates raw input into {@link CreateRequestInput}; a {@link ValidationError} lists every problem with a pointer. */
export function parseCreateRequestInput(raw: unknown): CreateRequestInput {
  const result = createRequestSchema.safeParse(raw);
  if (result.success) return result.data as CreateRequestInput;
  const issues: FieldIssue[] = result.error.issues.map((i) => ({
    pointer: i.path.length ? `/${i.path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}` : '',
    field: i.path.length ? String(i.path[i.path.length - 1]) : undefined,
    message: i.message,
  }));
  throw new ValidationError(`request is invalid: ${issues.map((i) => `${i.pointer || '(root)'} ${i.message}`).join('; ')}`, issues);
}

function applyPatch(draft: Request, patch: RequestPatch | undefined): void {
  if (!patch) return;
  const forbidden = ['id', 'revision', 'createdAt', 'updatedAt', 'state', 'history', 'kind', 'actor', 'origin'];
  const target = draft as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (forbidden.includes(key)) {
      throw new ValidationError(`request patch cannot set ${key}`, [{ pointer: `/${key}`, field: key, message: 'is managed by the request service' }]);
    }
    if (value === undefined) delete target[key];
    else target[key] = value;
  }
}

/** Options of {@link RequestService}. */
export interface RequestServiceOptions {
  inventory: Inventory;
}

/** Opens requests and moves them through the lifecycle. */
export class RequestService {
  private readonly inventory: Inventory;

  constructor(options: RequestServiceOptions) {
    this.inventory = options.inventory;
  }

  /**
   * Validates `input` and stores a new request in `received` (id `req_` + random), with the
   * work it `owes` (its evaluation) in the same atomic step. The audit event names the
   * requester and origin surface unless `by` says who really acted (an editor opening the next
   * content revision of someone else's request).
   */
  async createRequest(input: CreateRequestInput, by?: { actor: string; surface: SurfaceName }, owes?: Owes): Promise<Request> {
    const prepared = this.prepareRequest(parseCreateRequestInput(input), by);
    await this.inventory.commit([prepared], owes?.(prepared.record) ?? []);
    return prepared.record;
  }

  /** The write that stores a new request in `received` (not yet committed). */
  private prepareRequest(data: CreateRequestInput, by?: { actor: string; surface: SurfaceName }): PreparedWrite<'request'> {
    const environment = data.environment.startsWith(`${data.project}-`) ? data.environment : environmentId(data.project, data.environment);
    const ctx: AuditContext = by ? { actor: by.actor, surface: by.surface } : { actor: data.actor.id, surface: data.origin.surface };
    const id = randomId('req');
    const at = this.inventory.clock.now();
    return this.inventory.prepareCreate(
      'request',
      {
        id,
        kind: data.kind,
        state: 'received',
        contentRevision: data.contentRevision ?? 1,
        actor: data.actor,
        origin: data.origin,
        project: data.project,
        environment,
        bundle: data.bundle,
        ...(data.version !== undefined ? { version: data.version } : {}),
        ...(data.package !== undefined ? { package: data.package } : {}),
        ...(data.submitted !== undefined ? { submitted: data.submitted } : {}),
        ...(data.params !== undefined ? { params: data.params } : {}),
        ...(data.query !== undefined ? { query: data.query } : {}),
        decisions: [],
        approvals: [],
        history: [{ from: null, to: 'received', at: at.toISOString(), by: ctx.actor }],
      },
      { ...ctx, request: id },
      { at },
    );
  }

  /**
   * Moves request `id` (at `expectedRevision`) to `to`, applying `patch` and storing the work
   * it `owes` in the same write. Throws {@link IllegalTransitionError} for a move the table
   * forbids, ConflictError when the request changed since `expectedRevision`, NotFoundError for
   * an unknown id.
   */
  async transition(id: string, expectedRevision: number, to: RequestState, options: TransitionOptions): Promise<Request> {
    const prepared = await this.prepareTransition(id, expectedRevision, to, options);
    await this.inventory.commit([prepared], options.owes?.(prepared.record) ?? []);
    return prepared.record;
  }

  /** The write {@link transition} makes (not yet committed). */
  private prepareTransition(id: string, expectedRevision: number, to: RequestState, options: TransitionOptions): Promise<PreparedWrite<'request'>> {
    const ctx: AuditContext = { actor: options.by, surface: options.surface ?? 'engine', request: id };
    const at = this.inventory.clock.now();
    return this.inventory.prepareUpdate(
      'request',
      id,
      expectedRevision,
      (draft) => {
        if (!canTransition(draft.state, to, draft.kind)) throw new IllegalTransitionError(draft.state, to, id);
        applyPatch(draft, options.patch);
        draft.history.push({
          from: draft.state,
          to,
          at: at.toISOString(),
          by: options.by,
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
        });
        draft.state = to;
      },
      ctx,
      { action: 'request.transition', at, ...(options.reason !== undefined ? { reason: options.reason } : {}), ...(options.current ? { current: options.current } : {}) },
    );
  }

  /** Sets members of a request without changing its state (plan, decisions, approvals...), with the work it `owes`. */
  async patch(id: string, expectedRevision: number, patch: RequestPatch, ctx: AuditContext, reason?: string, owes?: Owes): Promise<Request> {
    const prepared = await this.inventory.prepareUpdate('request', id, expectedRevision, (draft) => applyPatch(draft, patch), { ...ctx, request: id }, {
      action: 'request.update',
      ...(reason !== undefined ? { reason } : {}),
    });
    await this.inventory.commit([prepared], owes?.(prepared.record) ?? []);
    return prepared.record;
  }

  /**
   * Hands a request whose work was lost (a crashed worker, a job that gave up) the work it
   * `owes` again, changing nothing else: a `request.resume` audit event saying `reason`, and
   * the next revision, so the new work has new keys and a racing step holding the old revision
   * loses with a ConflictError (as does this call, when the request moved meanwhile).
   */
  async resume(id: string, expectedRevision: number, reason: string, owes: Owes): Promise<Request> {
    const prepared = await this.inventory.prepareUpdate('request', id, expectedRevision, () => undefined, { actor: 'engine', surface: 'engine', request: id }, {
      action: 'request.resume',
      reason,
    });
    await this.inventory.commit([prepared], owes(prepared.record));
    return prepared.record;
  }

  /**
   * The person edited what they asked for (new field values on the same ticket). Requests
   * that may be superseded are: the old one moves to `superseded` and a new request with the
   * next content revision is opened and returned, in ONE atomic step with the work both owe
   * (`owes` gets the new request and the superseded one). `invalid` and `failed` requests are
   * edited in place and go back to `received` with the next content revision. Anything else
   * (being applied, finished) refuses with {@link IllegalTransitionError}. `input.actor` is the
   * person who edited; the request keeps its original requester and origin.
   */
  async revise(id: string, expectedRevision: number, input: CreateRequestInput, owes?: (next: Request, superseded?: Request) => readonly OutboxEntry[]): Promise<Request> {
    const data = parseCreateRequestInput(input);
    const current = await this.inventory.get('request', id);
    const by = data.actor.id;
    const surface = data.origin.surface;
    if (canTransition(current.state, 'superseded', current.kind)) {
      const superseded = await this.prepareTransition(id, expectedRevision, 'superseded', {
        by,
        surface,
        reason: `edited: content revision ${current.contentRevision + 1} replaces ${current.contentRevision}`,
      });
      // The requester stays the original one (separation of duties is about who asked); the audit names the editor.
      const next = this.prepareRequest(
        { ...data, actor: current.actor, origin: current.origin, contentRevision: superseded.record.contentRevision + 1 },
        { actor: by, surface },
      );
      await this.inventory.commit([superseded, next], owes?.(next.record, superseded.record) ?? []);
      return next.record;
    }
    if (canTransition(current.state, 'received', current.kind)) {
      return this.transition(id, expectedRevision, 'received', {
        by,
        surface,
        reason: `edited: content revision ${current.contentRevision + 1}`,
        patch: this.editedInPlace(current, data),
        ...(owes ? { owes: (next: Request) => owes(next) } : {}),
      });
    }
    throw new IllegalTransitionError(current.state, 'superseded', id);
  }

  /** What an edit of an `invalid` or `failed` request changes: the answers, and the results of the last evaluation cleared. */
  private editedInPlace(current: Request, data: CreateRequestInput): RequestPatch {
    const environment = data.environment.startsWith(`${data.project}-`) ? data.environment : environmentId(data.project, data.environment);
    return {
      contentRevision: current.contentRevision + 1,
      project: data.project,
      environment,
      bundle: data.bundle,
      version: data.version,
      package: data.package,
      submitted: data.submitted,
      params: data.params,
      query: data.query,
      issues: undefined,
      plan: undefined,
      decisions: [],
      approvals: [],
      error: undefined,
      scheduledFor: undefined,
    };
  }

  /** The request, or NotFoundError. */
  async get(id: string): Promise<Request> {
    return this.inventory.get('request', id);
  }

  /** Requests matching the filters (state, project, environment, package, bundle, origin). */
  async list(filter: ListFilters['request'] = {}, options: ListOptions = {}): Promise<Request[]> {
    return this.inventory.list('request', filter, options);
  }

  /** Every request opened from one ticket (or other origin), newest first. */
  async forOrigin(surface: SurfaceName, ref: string): Promise<Request[]> {
    return this.inventory.list('request', { origin: { surface, ref } }, { order: 'desc' });
  }
}
