/**
 * The typed errors of every call to a ServiceNow instance (Table API, Service Catalog API, the
 * OAuth token endpoint), and the factory the shared call loop builds them with. Messages name the
 * operation and, for refused credentials, the settings to check; never a credential.
 */
import type { ErrorCode } from '../../engine/errors.ts';
import { RemoteApiError, RemoteAuthError, RemoteRateLimitedError, RemoteResponseError, RemoteUnavailableError } from '../shared/remote-errors.ts';
import type { RemoteErrorFactory } from '../shared/remote-call.ts';

/** The settings Basic authentication reads, as a refused call names them. */
export const BASIC_AUTH_SETTINGS = 'SERVICENOW_USER and SERVICENOW_PASSWORD';

/** ServiceNow refused a call for a reason of the request itself (400, 403, 404 ...). Not retried. */
export class ServiceNowApiError extends RemoteApiError {
  /** ServiceNow's own error texts. */
  get serviceNowMessages(): string[] {
    return this.remoteMessages;
  }
  constructor(code: ErrorCode, status: number, operation: string, messages: string[]) {
    super('ServiceNow', code, status, operation, messages);
  }
}

/** ServiceNow rejected our credentials (401). A configuration problem: not retryable until fixed. */
export class ServiceNowAuthError extends RemoteAuthError {
  /** @param settings the settings to check (default: Basic authentication's). */
  constructor(operation: string, settings: string = BASIC_AUTH_SETTINGS) {
    super('ServiceNow', operation, settings);
  }
}

/** ServiceNow is down, slow or unreachable (5xx, 408, network). Retry later. */
export class ServiceNowUnavailableError extends RemoteUnavailableError {
  constructor(operation: string, status: number | undefined, detail: string, options?: { cause?: unknown }) {
    super('ServiceNow', operation, status, detail, options);
  }
}

/** ServiceNow kept answering 429 beyond what the client waits for itself. Retry after `retryAfterMs`. */
export class ServiceNowRateLimitedError extends RemoteRateLimitedError {
  constructor(operation: string, retryAfterMs: number) {
    super('ServiceNow', operation, retryAfterMs);
  }
}

/** ServiceNow answered 2xx with a body that does not have the documented shape. */
export class ServiceNowResponseError extends RemoteResponseError {
  constructor(operation: string, detail: string) {
    super('ServiceNow', operation, detail);
  }
}

/** ServiceNow's typed errors for the shared call loop; a refused credential names `settings`. */
export function serviceNowErrors(settings: string = BASIC_AUTH_SETTINGS): RemoteErrorFactory {
  return {
    api: (code, status, op, messages) => new ServiceNowApiError(code, status, op, messages),
    auth: (op) => new ServiceNowAuthError(op, settings),
    unavailable: (op, status, detail, options) => new ServiceNowUnavailableError(op, status, detail, options),
    rateLimited: (op, wait) => new ServiceNowRateLimitedError(op, wait),
  };
}
