/**
 * Errors of the forms room. An overlay problem is the ops author's to fix: a
 * {@link ValidationError} whose issues name the file, the line and the key.
 */
import { ValidationError, type FieldIssue } from '../engine/errors.ts';

/** A form overlay (forms/<bundle>.yaml) is malformed or does not fit its bundle. */
export class OverlayError extends ValidationError {
  readonly file: string;
  constructor(file: string, issues: FieldIssue[]) {
    super(
      `form overlay ${file} has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n` +
        issues.map((i) => `  ${i.file ?? file}${i.line ? `:${i.line}` : ''}: ${i.field ? `${i.field}: ` : ''}${i.message}`).join('\n'),
      issues,
    );
    this.file = file;
  }
}
