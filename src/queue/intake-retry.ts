/**
 * How long intake keeps retrying a delivery whose handling fails for a system reason (Jira or
 * ServiceNow down, Redis hiccup, an edit racing an evaluate): exponential backoff from
 * `firstDelayMs`, capped at `maxDelayMs`, for as many attempts as it takes to cover `coverMs`
 * of outage. After the last attempt the delivery is kept as a dead letter (see dead-letters.ts).
 */
export interface IntakeRetrySchedule {
  /** Wait after the first failure. */
  firstDelayMs: number;
  /** Longest wait between two attempts. */
  maxDelayMs: number;
  /** The outage the retries must outlast: the waits add up to more than this. */
  coverMs: number;
}

/** The schedule intake runs with: 0.5 s doubling up to 5 min, for more than 24 h. */
export const INTAKE_RETRY: IntakeRetrySchedule = { firstDelayMs: 500, maxDelayMs: 5 * 60_000, coverMs: 24 * 3600_000 };

/** The BullMQ backoff type name of {@link intakeRetryDelay}. */
export const INTAKE_BACKOFF_TYPE = 'intake';

/** The backoff type name of outbox jobs: the same schedule, so a ticket write outlasts a day of outage too. */
export const OUTBOX_BACKOFF_TYPE = 'outbox';

/** The wait (ms) after the `attemptsMade`-th failed attempt (1 after the first failure). */
export function intakeRetryDelay(attemptsMade: number, schedule: IntakeRetrySchedule = INTAKE_RETRY): number {
  const exponential = schedule.firstDelayMs * 2 ** Math.max(0, attemptsMade - 1);
  return Math.min(schedule.maxDelayMs, exponential);
}

/** The number of attempts (the first one included) whose waits add up to more than `coverMs`. */
export function intakeAttempts(schedule: IntakeRetrySchedule = INTAKE_RETRY): number {
  let waited = 0;
  let attempts = 1;
  while (waited <= schedule.coverMs) {
    waited += intakeRetryDelay(attempts, schedule);
    attempts += 1;
  }
  return attempts;
}

/**
 * The intake worker's custom BullMQ backoff strategy (jobs name it with backoff type `intake`;
 * BullMQ's built-in types never reach it): {@link intakeRetryDelay} of {@link INTAKE_RETRY}.
 */
export function intakeBackoffStrategy(attemptsMade: number): number {
  return intakeRetryDelay(attemptsMade);
}
