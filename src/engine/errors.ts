/**
 * Typed errors. Two families, told apart with `instanceof` or `kind`/`code`, never by message:
 * - {@link UserError}: the person asked for something that cannot be done as asked. It is
 *   posted back to the ticket (or returned as a 4xx) and never retried.
 * - {@link SystemError}: something of ours or a dependency broke. It is logged and retried.
 * Messages must never carry secrets: callers pass field names and pointers, not values.
 */

/** Stable machine-readable error codes. */
export type ErrorCode =
  | 'validation'
  | 'not_found'
  | 'conflict'
  | 'illegal_transition'
  | 'bad_bundle'
  | 'unresolved_ref'
  | 'policy_denied'
  | 'unauthorized'
  | 'forbidden'
  | 'deployment_failed'
  | 'config'
  | 'system';

/** Base class of every error the service raises on purpose. */
export abstract class TicketSurfaceError extends Error {
  abstract readonly kind: 'user' | 'system';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A failure caused by the request itself: shown to the person, not retried. */
export class UserError extends TicketSurfaceError {
  readonly kind = 'user' as const;
}

/** A failure of the machinery: logged and retried. */
export class SystemError extends TicketSurfaceError {
  readonly kind = 'system' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super('system', message, options);
  }
}

/** One problem with one field of some input. `pointer` is a JSON pointer ("" for the root). */
export interface FieldIssue {
  /** JSON pointer into the validated document, for example `/allocated_storage_gb`. */
  pointer: string;
  /** Human label of the field (schema `title` or form label) when known. */
  field?: string;
  /** Plain-words message, for example "must be at least 20". Never includes a secret value. */
  message: string;
  /** File the problem was found in, for bundle and policy files. */
  file?: string;
  /** 1-based line in `file`, when known. */
  line?: number;
}

/** Input failed validation; `issues` lists every problem, not only the first. */
export class ValidationError extends UserError {
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[]) {
    super('validation', message);
    this.issues = issues;
  }
}

/** A bundle file (or something it references) is malformed or cannot be resolved. */
export class BundleError extends UserError {
  readonly issues: FieldIssue[];
  constructor(message: string, issues: FieldIssue[], code: 'bad_bundle' | 'unresolved_ref' = 'bad_bundle') {
    super(code, message);
    this.issues = issues;
  }
}

/** An unknown bundle, version, environment, package, request... */
export class NotFoundError extends UserError {
  readonly what: string;
  readonly id: string;
  constructor(what: string, id: string) {
    super('not_found', `unknown ${what} "${id}"`);
    this.what = what;
    this.id = id;
  }
}

/** A write was based on a stale revision of a record. */
export class ConflictError extends UserError {
  constructor(what: string, id: string, expected: number, actual: number) {
    super('conflict', `${what} "${id}" is at revision ${actual}, the write was based on revision ${expected}`);
  }
}

/** A request state change that the lifecycle does not allow. */
export class IllegalTransitionError extends UserError {
  readonly from: string;
  readonly to: string;
  constructor(from: string, to: string, requestId?: string) {
    super('illegal_transition', `request${requestId ? ` ${requestId}` : ''} cannot move from ${from} to ${to}`);
    this.from = from;
    this.to = to;
  }
}

/** A policy rule denied the request or an approval. */
export class PolicyDeniedError extends UserError {
  readonly rule: string;
  constructor(rule: string, reason: string) {
    super('policy_denied', reason);
    this.rule = rule;
  }
}

/** A deployment step failed; `excerpt` is already redacted. */
export class DeploymentFailedError extends UserError {
  readonly step: string;
  readonly excerpt: string;
  constructor(step: string, message: string, excerpt: string, options?: { cause?: unknown }) {
    super('deployment_failed', message, options);
    this.step = step;
    this.excerpt = excerpt;
  }
}

/** Configuration is missing or invalid; names the variable. */
export class ConfigError extends UserError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super('config', `${variable}: ${message}`);
    this.variable = variable;
  }
}

/** True for errors that must be shown to the person and not retried. */
export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}

/** A record with this id already exists (a create that would overwrite). */
export class AlreadyExistsError extends UserError {
  readonly what: string;
  readonly id: string;
  constructor(what: string, id: string) {
    super('conflict', `${what} "${id}" already exists`);
    this.what = what;
    this.id = id;
  }
}
