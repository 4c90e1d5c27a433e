/**
 * Scrubbing of every value that reaches a ticket. Values come from people (field answers,
 * comments, display names) and from machines (provisioner output): either may carry control
 * characters, mentions that would notify strangers, markup a surface would interpret, or secrets.
 * The template engine runs {@link sanitize} on every substituted value; template text itself is
 * trusted and not touched.
 */
import { REDACTED, redactText } from '../../engine/redact.ts';

export { REDACTED };

/** Options of {@link sanitize}. */
export interface SanitizeOptions {
  /** Keep line breaks (log excerpts); otherwise they become spaces. Default false. */
  multiline?: boolean;
  /** Exact strings to blank out wherever they appear (known secret values). */
  secrets?: readonly string[];
}

// C0 and C1 controls except tab/newline, DEL, bidi overrides and isolates (the "Trojan Source"
// characters that make text read differently from what it is), and zero-width characters used to
// smuggle look-alike mentions.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/**
 * Blanks out anything that looks like a secret, plus any exact `secrets` given: the engine's one
 * rule ({@link redactText} in `engine/redact.ts`), so a ticket hides what a log hides.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  return redactText(text, secrets);
}

/**
 * Makes one value safe to place in any ticket body:
 * - removes control, bidi and zero-width characters (and line breaks unless `multiline`);
 * - neutralises mentions: Jira wiki `[~accountid:...]` / `[~name]` lose their brackets, a
 *   leading `@name` gets a full-width at sign (reads the same, notifies nobody), ServiceNow's
 *   `@[sys_id:name]` form is broken the same way;
 * - neutralises markup the surfaces interpret inside plain text: ServiceNow's `[code]...[/code]`
 *   (raw HTML in journal fields) and Jira wiki macros such as `{html}`, `{noformat}`;
 * - redacts secrets ({@link redactSecrets}).
 * Structural injection (a value pretending to be a table row or a heading) cannot happen at all:
 * the template engine never parses substituted values as markup.
 */
export function sanitize(value: string, options: SanitizeOptions = {}): string {
  let s = value.normalize('NFC').replace(/\r\n?/g, '\n');
  s = s.replace(CONTROL, '');
  if (!options.multiline) s = s.replace(/[\n\t]+/g, ' ');
  s = s.replace(/\[~(accountid:)?([^\]\s]*)\]/gi, (_m, acc: string | undefined, who: string) => `~${acc ?? ''}${who}`);
  s = s.replace(/(^|[^\w.+-])@(?=[\w[])/g, '$1\uFF20');
  s = s.replace(/\[(\/?)code\]/gi, '($1code)');
  s = s.replace(/\{(\/?)(html|noformat|code|panel|color|quote)(?=[:}])/gi, '($1$2');
  return redactSecrets(s, options.secrets);
}
