import { pino, type Logger } from 'pino';

export type { Logger };

/** Field paths pino blanks out wherever they appear in a log record. */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  'headers.authorization',
  'headers["x-hub-signature"]',
  'config.apiToken',
];

/**
 * Root logger. Messages are fixed strings; details go in fields. A child logger per job carries
 * the delivery and request ids. `LOG_LEVEL=silent` turns it off (tests).
 */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'ticket-surface' } },
    destination as never,
  );
}
