/**
 * Durations written in the policy file (`72h`, `3d`, `1d12h`, `90m`) and durations spoken in
 * tickets ("in 14 h 20 min").
 */

const MINUTE = 60_000;
const UNIT_MS: Record<string, number> = { d: 24 * 60 * MINUTE, h: 60 * MINUTE, m: MINUTE };

/**
 * Parses `72h`, `3d`, `1d12h`, `90m` into milliseconds. Returns null for anything else, so the
 * caller can report the field with its own context.
 */
export function parseDuration(text: string): number | null {
  if (!/^([0-9]+[dhm])+$/.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/([0-9]+)([dhm])/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}

/**
 * "14 h 20 min", "2 d 3 h", "5 min", "less than a minute": the largest two units, rounded down
 * to the minute (a person reads "in 14 h 20 min", not seconds).
 */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / MINUTE);
  if (minutes < 1) return 'less than a minute';
  const d = Math.floor(minutes / (24 * 60));
  const h = Math.floor((minutes % (24 * 60)) / 60);
  const min = minutes % 60;
  const parts: string[] = [];
  if (d) parts.push(`${d} d`);
  if (h) parts.push(`${h} h`);
  if (min && !d) parts.push(`${min} min`);
  return parts.slice(0, 2).join(' ');
}

/** `72h` style text for a millisecond duration, for messages ("approvals expire after 72h"). */
export function durationText(ms: number): string {
  const minutes = Math.round(ms / MINUTE);
  if (minutes % (24 * 60) === 0 && minutes >= 7 * 24 * 60) return `${minutes / (24 * 60)}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}
