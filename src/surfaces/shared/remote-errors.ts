import { SystemError, UserError, type ErrorCode } from '../../engine/errors.ts';

/**
 * Errors of a call to a ticket system (Jira, ServiceNow), shared so every client classifies
 * failures the same way: the system refused the request itself (a user error, not retried), our
 * credentials are wrong (not retried until fixed), the system is unavailable or rate limited
 * (retried; `retryAfterMs` tells the outbox when), or it answered a body of the wrong shape.
 * Messages name the system and the operation, never a credential.
 */
export class RemoteApiError extends UserError {
  readonly status: number;
  readonly operation: string;
  /** The system's own error texts (sanitized by the caller). */
  readonly remoteMessages: string[];
  constructor(system: string, code: ErrorCode, status: number, operation: string, messages: string[]) {
    super(code, `${system} ${operation} answered ${status}${messages.length ? `: ${messages.join('; ')}` : ''}`);
    this.status = status;
    this.operation = operation;
    this.remoteMessages = messages;
  }
}

/** The system rejected our credentials (401): a configuration problem, not retryable until fixed. */
export class RemoteAuthError extends SystemError {
  readonly retryable = false;
  readonly operation: string;
  constructor(system: string, operation: string, variables: string) {
    super(`${system} ${operation} answered 401: check ${variables}`);
    this.operation = operation;
  }
}

/** The system is down, slow or unreachable (5xx, 408, network). Retry later. */
export class RemoteUnavailableError extends SystemError {
  readonly retryable = true;
  readonly status?: number;
  readonly operation: string;
  constructor(system: string, operation: string, status: number | undefined, detail: string, options?: { cause?: unknown }) {
    super(`${system} ${operation} failed${status ? ` with ${status}` : ''}: ${detail}`, options);
    this.status = status;
    this.operation = operation;
  }
}

/** The system kept answering 429 beyond what the client waits for itself. Retry after `retryAfterMs`. */
export class RemoteRateLimitedError extends SystemError {
  readonly retryable = true;
  readonly operation: string;
  readonly retryAfterMs: number;
  constructor(system: string, operation: string, retryAfterMs: number) {
    super(`${system} ${operation} is rate limited; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
    this.operation = operation;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The system answered 2xx with a body that does not have the documented shape. */
export class RemoteResponseError extends SystemError {
  readonly retryable = false;
  constructor(system: string, operation: string, detail: string) {
    super(`${system} ${operation} returned an unexpected body: ${detail}`);
  }
}
