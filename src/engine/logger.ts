import { pino, type Logger } from 'pino';
import { REDACTED, Redactor } from './redact.ts';

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

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Exact secret values (configured tokens and passwords) blanked wherever they appear in a line. */
  secrets?: readonly string[];
}

/**
 * Root logger. Messages are fixed strings; details go in fields. A child logger per job carries
 * the delivery and request ids. `LOG_LEVEL=silent` turns it off (tests). Every line passes
 * through the engine's one redaction rule (`redact.ts`) before it is written: the configured
 * secrets by value, secret-looking keys and shapes by text, on top of pino's own path redaction.
 */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: NodeJS.WritableStream, options: LoggerOptions = {}): Logger {
  const redactor = new Redactor(options.secrets ?? []);
  const target = destination ?? pino.destination({ dest: 1, sync: true });
  const stream = { write: (line: string) => target.write(redactor.redactText(line)) };
  return pino({ level, redact: { paths: REDACT_PATHS, censor: REDACTED }, base: { service: 'ticket-surface' } }, stream);
}
