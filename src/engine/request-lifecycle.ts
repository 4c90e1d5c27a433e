/**
 * The request lifecycle as one explicit table (DESIGN.md):
 * `received → invalid | validated → planned → awaiting_approval → approved → scheduled →
 * applying → applied | failed`, plus `rejected`, `cancelled`, `superseded`.
 *
 * Kept free of Redis so the inventory (which refuses illegal state writes) and the request
 * service (which appends history) share it without a cycle. `requests.ts` re-exports it.
 */
import { IllegalTransitionError } from './errors.ts';
import type { RequestKind, RequestState } from './model.ts';

/** Every request state, in lifecycle order. */
export const REQUEST_STATES: readonly RequestState[] = [
  'received',
  'invalid',
  'validated',
  'planned',
  'awaiting_approval',
  'approved',
  'scheduled',
  'applying',
  'applied',
  'failed',
  'rejected',
  'cancelled',
  'superseded',
];

/**
 * Legal moves, state by state. Why each edge exists:
 * - received: validation passes or fails; the requester withdraws; an edit arrives while it
 *   is still being evaluated (a new content revision supersedes it).
 * - invalid: the person edits the fields (back to received, or straight to validated when the
 *   surface re-validates synchronously); or withdraws.
 * - validated: planned; planning itself failed; policy refused before planning; withdrawn;
 *   superseded by an edit; invalid when an evaluation resumed after a crash finds the answers
 *   no longer hold (the bundle version was withdrawn meanwhile).
 * - planned: needs approval, or policy needs none (straight to approved); policy refused
 *   after seeing the plan (cost, destructive change); withdrawn; superseded.
 * - awaiting_approval: approved, rejected, withdrawn, superseded; back to planned when the plan
 *   is recomputed (drift) since approvals bind to a plan hash.
 * - approved: scheduled outside the change window, applying inside it; re-planned when the
 *   plan changed before apply; an approver withdraws consent (rejected); withdrawn; superseded.
 * - scheduled: moved by a blackout (scheduled again), the window opens (applying), re-planned,
 *   rejected, withdrawn, superseded.
 * - applying: the provisioner finishes, well or badly. Never interrupted half way. Back to
 *   planned only when the worker stopped before the apply started (no deployment) and the
 *   fresh plan is no longer the approved one: nothing was applied, the new plan needs approval.
 * - failed: retried with `/apply` (applying), edited (received), or given up (cancelled).
 * - applied, rejected, cancelled, superseded: terminal.
 */
export const REQUEST_TRANSITIONS: Readonly<Record<RequestState, readonly RequestState[]>> = {
  received: ['validated', 'invalid', 'cancelled', 'superseded'],
  invalid: ['received', 'validated', 'cancelled'],
  validated: ['planned', 'invalid', 'failed', 'rejected', 'cancelled', 'superseded'],
  planned: ['awaiting_approval', 'approved', 'rejected', 'cancelled', 'superseded'],
  awaiting_approval: ['approved', 'rejected', 'planned', 'cancelled', 'superseded'],
  approved: ['scheduled', 'applying', 'planned', 'rejected', 'cancelled', 'superseded'],
  scheduled: ['scheduled', 'applying', 'planned', 'rejected', 'cancelled', 'superseded'],
  applying: ['applied', 'failed', 'planned'],
  applied: [],
  failed: ['applying', 'received', 'cancelled'],
  rejected: [],
  cancelled: [],
  superseded: [],
};

/**
 * Extra moves for `query` requests, which have no plan and change nothing: once validated,
 * the answer is computed and posted (applied) or computing it failed.
 */
export const QUERY_EXTRA_TRANSITIONS: Readonly<Partial<Record<RequestState, readonly RequestState[]>>> = {
  validated: ['applied'],
};

/** States no request leaves. */
export const TERMINAL_STATES: readonly RequestState[] = REQUEST_STATES.filter((s) => REQUEST_TRANSITIONS[s].length === 0);

/** True when a request of `kind` (default: any non-query kind) may move from `from` to `to`. */
export function canTransition(from: RequestState, to: RequestState, kind?: RequestKind): boolean {
  const moves = REQUEST_TRANSITIONS[from];
  if (!moves) return false;
  if (moves.includes(to)) return true;
  return kind === 'query' && (QUERY_EXTRA_TRANSITIONS[from]?.includes(to) ?? false);
}

/** Throws {@link IllegalTransitionError} unless {@link canTransition} allows the move. */
export function assertTransition(from: RequestState, to: RequestState, kind?: RequestKind, requestId?: string): void {
  if (!canTransition(from, to, kind)) throw new IllegalTransitionError(from, to, requestId);
}

/** True for states no request leaves. */
export function isTerminal(state: RequestState): boolean {
  return TERMINAL_STATES.includes(state);
}
