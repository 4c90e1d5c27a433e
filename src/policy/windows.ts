/**
 * Change windows: when may a change be applied in an environment.
 *
 * Rules this module follows (and the tests pin down):
 * - Weekly windows are wall-clock times in an IANA zone; instants come from the tz database via
 *   luxon, never from fixed offsets.
 * - A window opens at the first instant the local clock reads its start time on that date and
 *   closes at the first instant it reads its end time. So on a fall-back night an ambiguous time
 *   means its first occurrence (a 01:30-03:30 window that night lasts 3 real hours), and a time
 *   that does not exist on a spring-forward night means the moment the clock jumps past it (a
 *   window starting 02:30 opens at 03:00; a 01:30-03:30 window lasts 1 real hour).
 * - An end at or before the start means the window runs past midnight into the next day.
 * - Blackouts are cut out of windows. A blackout covering a whole window pushes the opening to
 *   the next window; a blackout covering part of a window leaves the parts outside it open: the
 *   opening is the first instant inside a window and outside every blackout, and an opening ends
 *   where a blackout begins.
 * - An environment without `windows` is open at any time (blackouts from a {@link WindowSource}
 *   still apply).
 */
import { DateTime, IANAZone } from 'luxon';
import { PolicyDeniedError } from '../engine/errors.ts';
import { formatDuration } from './duration.ts';
import { matchEnvironment } from './match.ts';
import type { Blackout, EnvironmentPolicy, EnvironmentRef, ExtraWindows, LocalTime, Policy, WindowPolicy, WindowSource } from './types.ts';

const DAY = 24 * 3600_000;

/** How far ahead to look for an opening before giving up. */
export const DEFAULT_HORIZON_DAYS = 400;

/** The opening a request can apply in: now (`openNow`) or the next one. */
export interface WindowOpening {
  /** First instant of the opening (in the past when `openNow`). */
  start: Date;
  /** Exclusive end; null when nothing closes it within the horizon (environment without windows). */
  end: Date | null;
  /** Zone the windows are written in, for showing times. */
  zone: string;
  /** True when `from` lies inside this opening. */
  openNow: boolean;
  /** Blackouts that cut into windows between `from` and this opening (why it is not earlier). */
  blockedBy: Blackout[];
}

/** Options of window computations. */
export interface WindowOptions {
  /** Give up after this many days (default {@link DEFAULT_HORIZON_DAYS}). */
  horizonDays?: number;
}

interface Interval {
  start: number;
  end: number;
}

/**
 * The instant at which the clock in `zone` first reads `time` on the calendar date y-m-d
 * (`hour` 24 = midnight after that date). See the module comment for DST behaviour.
 */
export function localInstant(zone: string, y: number, m: number, d: number, time: LocalTime): number {
  const z = IANAZone.create(zone);
  // The wall-clock reading written as if it were UTC; real instants are this minus the offset.
  const naive = Date.UTC(y, m - 1, d, time.hour, time.minute);
  const offsets = new Set([z.offset(naive - DAY), z.offset(naive), z.offset(naive + DAY)]);
  const valid = [...offsets].map((o) => naive - o * 60_000).filter((t) => z.offset(t) * 60_000 === naive - t);
  if (valid.length) return Math.min(...valid);
  // In a spring-forward gap: the first instant whose local reading is past `time` is the jump.
  let lo = naive - Math.max(...offsets) * 60_000;
  let hi = naive - Math.min(...offsets) * 60_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (mid + z.offset(mid) * 60_000 >= naive) hi = mid;
    else lo = mid;
  }
  return hi;
}

function weeklyIntervals(w: WindowPolicy, from: number, to: number): Interval[] {
  const out: Interval[] = [];
  const first = DateTime.fromMillis(from, { zone: w.timeZone });
  // Calendar arithmetic on plain dates (UTC has no DST), starting a day early for windows that run past midnight.
  let day = DateTime.utc(first.year, first.month, first.day).minus({ days: 1 });
  const lastDay = DateTime.fromMillis(to, { zone: w.timeZone });
  const stop = DateTime.utc(lastDay.year, lastDay.month, lastDay.day);
  while (day <= stop) {
    for (const win of w.weekly) {
      if (!win.days.includes(day.weekday as 1)) continue;
      const start = localInstant(w.timeZone, day.year, day.month, day.day, win.start);
      const overnight = win.end.hour * 60 + win.end.minute <= win.start.hour * 60 + win.start.minute;
      const endDay = overnight ? day.plus({ days: 1 }) : day;
      const end = localInstant(w.timeZone, endDay.year, endDay.month, endDay.day, win.end);
      if (end > from && start < to && end > start) out.push({ start, end });
    }
    day = day.plus({ days: 1 });
  }
  return out;
}

function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else out.push({ ...i });
  }
  return out;
}

function subtract(intervals: Interval[], cuts: Interval[]): Interval[] {
  let pieces = intervals;
  for (const c of cuts) {
    const next: Interval[] = [];
    for (const p of pieces) {
      if (c.end <= p.start || c.start >= p.end) next.push(p);
      else {
        if (c.start > p.start) next.push({ start: p.start, end: c.start });
        if (c.end < p.end) next.push({ start: c.end, end: p.end });
      }
    }
    pieces = next;
  }
  return pieces;
}

/**
 * The opening containing `from`, or the next one, for an environment policy; null when none
 * opens within the horizon.
 */
export function nextOpening(env: EnvironmentPolicy, from: Date, extra: ExtraWindows = {}, options: WindowOptions = {}): WindowOpening | null {
  const horizon = (options.horizonDays ?? DEFAULT_HORIZON_DAYS) * DAY;
  const t0 = from.getTime();
  const w = env.windows;
  const zone = w?.timeZone ?? 'UTC';
  const blackouts = [...(w?.blackouts ?? []), ...(extra.blackouts ?? [])];
  const cuts = merge(blackouts.map((b) => ({ start: b.start.getTime(), end: b.end.getTime() })));
  const restricted = !!w && w.weekly.length > 0;
  // Look a month ahead first; widen only when the month holds no opening (long freezes).
  let span = 35 * DAY;
  for (;;) {
    span = Math.min(span, horizon);
    const to = t0 + span;
    const raw = restricted
      ? merge([...weeklyIntervals(w!, t0 - DAY, to), ...(extra.windows ?? []).map((x) => ({ start: x.start.getTime(), end: x.end.getTime() }))])
      : [{ start: t0 - DAY, end: t0 + horizon + DAY }];
    const pieces = subtract(raw, cuts).filter((p) => p.end > t0 && p.start < to);
    const found = pieces[0];
    // A piece ending near the edge of the span may continue into windows not generated yet.
    if (found && (found.end < to - 2 * DAY || span >= horizon || !restricted)) {
      const start = Math.max(found.start, restricted ? found.start : t0);
      const unbounded = !restricted && found.end >= t0 + horizon;
      const blockedBy = blackouts.filter((b) => raw.some((r) => r.end > t0 && r.start < start && b.start.getTime() < Math.min(r.end, start) && b.end.getTime() > Math.max(r.start, t0)));
      return {
        start: new Date(start),
        end: unbounded ? null : new Date(found.end),
        zone,
        openNow: found.start <= t0,
        blockedBy,
      };
    }
    if (span >= horizon) return null;
    span *= 4;
  }
}

function envPolicyOrThrow(policy: Policy, environment: EnvironmentRef): EnvironmentPolicy {
  const env = matchEnvironment(policy, environment);
  if (!env) throw new PolicyDeniedError('environment', noPolicyText(policy, environment));
  return env;
}

/** "No policy covers environment x ..." */
export function noPolicyText(policy: Policy, environment: EnvironmentRef): string {
  return `No policy covers environment ${environment.name}: nothing can be requested there until it is added to ${policy.file}`;
}

/**
 * The opening containing `from` or the next one, blackouts applied; null when none opens within
 * the horizon. `extra` carries windows and blackouts from {@link WindowSource}s (see
 * {@link ChangeWindowService} to gather them). Throws {@link PolicyDeniedError} when no policy
 * covers the environment.
 */
export function nextWindow(policy: Policy, environment: EnvironmentRef, from: Date, extra?: ExtraWindows, options?: WindowOptions): WindowOpening | null {
  return nextOpening(envPolicyOrThrow(policy, environment), from, extra, options);
}

/** True when a change may be applied in the environment at `at`. */
export function isInWindow(policy: Policy, environment: EnvironmentRef, at: Date, extra?: ExtraWindows, options?: WindowOptions): boolean {
  return nextWindow(policy, environment, at, extra, options)?.openNow ?? false;
}

// ---------------------------------------------------------------------------------------------
// Words

function dt(d: Date, zone: string): DateTime {
  return DateTime.fromJSDate(d, { zone }).setLocale('en');
}

/** "Tue 2026-11-24 10:00–16:00 Europe/Berlin" (both days written when the opening spans midnight). */
export function formatOpening(o: Pick<WindowOpening, 'start' | 'end' | 'zone'>): string {
  const s = dt(o.start, o.zone);
  if (!o.end) return `from ${s.toFormat('ccc yyyy-LL-dd HH:mm')} ${o.zone}`;
  const e = dt(o.end, o.zone);
  const sameDay = s.hasSame(e, 'day') || (e.hour === 0 && e.minute === 0 && e.minus({ days: 1 }).hasSame(s, 'day'));
  const endText = sameDay ? (e.hour === 0 && e.minute === 0 && !s.hasSame(e, 'day') ? '24:00' : e.toFormat('HH:mm')) : ` ${e.toFormat('ccc yyyy-LL-dd HH:mm')}`;
  return sameDay ? `${s.toFormat('ccc yyyy-LL-dd HH:mm')}–${endText} ${o.zone}` : `${s.toFormat('ccc yyyy-LL-dd HH:mm')} –${endText} ${o.zone}`;
}

/** "Tue 2026-11-24 10:00 Europe/Berlin (09:00 UTC)" */
export function formatInstant(d: Date, zone: string): string {
  const local = dt(d, zone).toFormat('ccc yyyy-LL-dd HH:mm');
  const utc = DateTime.fromJSDate(d, { zone: 'UTC' }).toFormat('HH:mm');
  return zone === 'UTC' || zone === 'Etc/UTC' ? `${local} UTC` : `${local} ${zone} (${utc} UTC)`;
}

// ---------------------------------------------------------------------------------------------
// Scheduling

/** What to do with an approved request now. */
export type ScheduleDecision =
  | { action: 'apply_now'; reason: string; window: WindowOpening | null; emergency: boolean }
  | { action: 'scheduled'; at: Date; window: WindowOpening; reason: string; scheduledText: string }
  | { action: 'blocked'; reason: string };

/** Input of {@link scheduleDecision}. */
export interface ScheduleInput {
  policy: Policy;
  environment: EnvironmentRef;
  now: Date;
  /** The request took the emergency path (its extra approvals are the caller's to check). */
  emergency?: boolean;
  extra?: ExtraWindows;
  options?: WindowOptions;
}

/**
 * Apply now, or the exact instant to schedule for, with the line the ticket shows:
 * "Next production window: Tue 2026-11-24 10:00–16:00 Europe/Berlin (in 14 h 20 min)."
 */
export function scheduleDecision(input: ScheduleInput): ScheduleDecision {
  const env = envPolicyOrThrow(input.policy, input.environment);
  const name = input.environment.name;
  const o = nextOpening(env, input.now, input.extra, input.options);
  const horizon = input.options?.horizonDays ?? DEFAULT_HORIZON_DAYS;
  if (o?.openNow) {
    const until = o.end && env.windows?.weekly.length ? ` (until ${formatUntil(o, input.now)})` : '';
    return { action: 'apply_now', reason: `Change window for ${name}: open now${until}.`, window: o, emergency: false };
  }
  if (input.emergency && env.emergency?.allowed) {
    const next = o ? ` Next regular window: ${formatOpening(o)}.` : '';
    return { action: 'apply_now', reason: `Emergency change: applies now, outside the ${name} window.${next}`, window: o, emergency: true };
  }
  if (!o) return { action: 'blocked', reason: `No ${name} change window opens in the next ${horizon} days.` };
  const inText = formatDuration(o.start.getTime() - input.now.getTime());
  const blocked = o.blockedBy.length ? ` Earlier windows are blacked out: ${[...new Set(o.blockedBy.map((b) => b.reason))].join('; ')}.` : '';
  return {
    action: 'scheduled',
    at: o.start,
    window: o,
    reason: `Next ${name} window: ${formatOpening(o)} (in ${inText}).${blocked}`,
    scheduledText: `Scheduled for ${formatInstant(o.start, o.zone)}.`,
  };
}

function formatUntil(o: WindowOpening, now: Date): string {
  const e = dt(o.end!, o.zone);
  return e.hasSame(dt(now, o.zone), 'day') ? `${e.toFormat('HH:mm')} ${o.zone}` : `${e.toFormat('ccc yyyy-LL-dd HH:mm')} ${o.zone}`;
}

/** Outcome of checking a scheduled request again when its delayed job runs. */
export type RecheckDecision =
  | { action: 'apply_now'; reason: string }
  | { action: 'moved'; at: Date; window: WindowOpening; reason: string; blackout?: Blackout }
  | { action: 'blocked'; reason: string };

/**
 * Run when a scheduled request's delayed job fires: apply if the window is open; otherwise
 * find the new opening and say why it moved ("Moved: a blackout (Datacenter move) now covers
 * Tue; rescheduled to Wed 2026-11-25 10:00 Europe/Berlin.").
 */
export function recheckSchedule(input: Omit<ScheduleInput, 'emergency'> & { scheduledFor: Date }): RecheckDecision {
  const d = scheduleDecision({ ...input, emergency: false });
  if (d.action === 'apply_now') return { action: 'apply_now', reason: d.reason };
  if (d.action === 'blocked') return d;
  const env = envPolicyOrThrow(input.policy, input.environment);
  const blackouts = [...(env.windows?.blackouts ?? []), ...(input.extra?.blackouts ?? [])];
  const s = input.scheduledFor.getTime();
  const cover = blackouts.find((b) => b.start.getTime() <= s && b.end.getTime() > s);
  const zone = d.window.zone;
  const newText = `rescheduled to ${dt(d.at, zone).toFormat('ccc yyyy-LL-dd HH:mm')} ${zone}`;
  const reason = cover
    ? `Moved: a blackout (${cover.reason}) now covers ${dt(input.scheduledFor, zone).toFormat('ccc')}; ${newText}.`
    : d.at.getTime() === s
      ? `Still scheduled for ${formatInstant(d.at, zone)}.`
      : `Moved: the ${input.environment.name} windows changed; ${newText}.`;
  return { action: 'moved', at: d.at, window: d.window, reason, blackout: cover };
}

/**
 * Window questions with extra windows and blackouts gathered from pluggable sources (a
 * ServiceNow blackout schedule, a calendar). Sources are asked on every call, so a blackout
 * added after a request was scheduled is seen when the request is checked again.
 */
export class ChangeWindowService {
  constructor(
    private readonly policy: Policy,
    private readonly sources: WindowSource[] = [],
    private readonly options: WindowOptions = {},
  ) {}

  /** Everything the sources know for [from - 1 day, from + horizon). */
  async extra(environment: EnvironmentRef, from: Date): Promise<ExtraWindows> {
    const horizon = (this.options.horizonDays ?? DEFAULT_HORIZON_DAYS) * DAY;
    const lo = new Date(from.getTime() - DAY);
    const hi = new Date(from.getTime() + horizon + DAY);
    const parts = await Promise.all(this.sources.map((s) => s.load(environment, lo, hi)));
    return {
      windows: parts.flatMap((p) => p.windows ?? []),
      blackouts: parts.flatMap((p, i) => (p.blackouts ?? []).map((b) => ({ ...b, source: b.source || this.sources[i].name }))),
    };
  }

  /** See {@link nextWindow}. */
  async nextWindow(environment: EnvironmentRef, from: Date): Promise<WindowOpening | null> {
    return nextWindow(this.policy, environment, from, await this.extra(environment, from), this.options);
  }

  /** See {@link isInWindow}. */
  async isInWindow(environment: EnvironmentRef, at: Date): Promise<boolean> {
    return isInWindow(this.policy, environment, at, await this.extra(environment, at), this.options);
  }

  /** See {@link scheduleDecision}. */
  async scheduleDecision(environment: EnvironmentRef, now: Date, emergency = false): Promise<ScheduleDecision> {
    return scheduleDecision({ policy: this.policy, environment, now, emergency, extra: await this.extra(environment, now), options: this.options });
  }

  /** See {@link recheckSchedule}. */
  async recheck(environment: EnvironmentRef, now: Date, scheduledFor: Date): Promise<RecheckDecision> {
    return recheckSchedule({ policy: this.policy, environment, now, scheduledFor, extra: await this.extra(environment, now), options: this.options });
  }
}
