/**
 * Deterministic crash injection. The workflow and the outbox relay call {@link Faults.at} at
 * named points; production passes nothing (no fault), tests pass a hook that throws at the
 * point they want, as a crash there would stop the step. A throw is a system error: the job
 * fails and is retried, or the recovery sweep picks the request up, exactly as after a real
 * crash at that point.
 */

/**
 * The named points:
 * - `mid-evaluate`: the answers are valid and stored (`validated`), nothing planned yet;
 * - `after-plan`: the plan ran, the request does not hold it yet;
 * - `between-state-and-notice`: right after a state change was stored (its notices and jobs
 *   are stored in the same atomic step, so there is no moment where one exists without the other);
 * - `before-apply`: the request is `applying`, its deployment not started;
 * - `after-apply-before-record`: the deployment finished, the request does not say so yet;
 * - `relay-after-add`: the relay handed an entry to the queue and has not removed it yet.
 */
export type FaultPoint = 'mid-evaluate' | 'after-plan' | 'between-state-and-notice' | 'before-apply' | 'after-apply-before-record' | 'relay-after-add';

/** A crash-injection hook: throw (or reject) to crash at `point`. */
export interface Faults {
  at(point: FaultPoint, context: { request?: string; key?: string }): void | Promise<void>;
}

/** No faults (production). */
export const NO_FAULTS: Faults = { at: () => undefined };
