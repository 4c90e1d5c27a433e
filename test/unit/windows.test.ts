import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { PolicyDeniedError } from '../../src/engine/errors.ts';
import {
  ChangeWindowService,
  isInWindow,
  loadPolicy,
  nextWindow,
  parsePolicy,
  recheckSchedule,
  scheduleDecision,
  type Blackout,
  type EnvironmentRef,
  type ExtraWindows,
  type WindowSource,
} from '../../src/policy/index.ts';

const at = (iso: string): Date => new Date(iso);
const iso = (d: Date | null | undefined): string | undefined => d?.toISOString();

/** One environment `e` with the given windows block (indented YAML). */
function policyWith(windows: string, extra = ''): ReturnType<typeof parsePolicy> {
  return parsePolicy(`version: 1
environments:
  - name: e
    match: { names: [e, production] }
    approvals: none
    windows:
${windows}
${extra}`);
}
const E: EnvironmentRef = { name: 'e', labels: {} };

test('Europe/Berlin spring forward: a 01:30-03:30 window lasts one real hour', () => {
  const p = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [sun], start: "01:30", end: "03:30" }`);
  // Sun 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
  const o = nextWindow(p, E, at('2026-03-28T12:00:00Z'))!;
  assert.equal(iso(o.start), '2026-03-29T00:30:00.000Z'); // 01:30 CET
  assert.equal(iso(o.end), '2026-03-29T01:30:00.000Z'); // 03:30 CEST
  assert.equal(o.zone, 'Europe/Berlin');
  assert.equal(o.openNow, false);
  assert.equal(isInWindow(p, E, at('2026-03-29T01:15:00Z')), true);
  assert.equal(isInWindow(p, E, at('2026-03-29T01:30:00Z')), false, 'end is exclusive');
  // The same window a week later (summer time all day) lasts two hours.
  const later = nextWindow(p, E, at('2026-03-30T00:00:00Z'))!;
  assert.equal(iso(later.start), '2026-04-04T23:30:00.000Z');
  assert.equal(iso(later.end), '2026-04-05T01:30:00.000Z');
});

test('a start time that does not exist (spring-forward gap) opens when the clock jumps past it', () => {
  const p = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [sun], start: "02:30", end: "05:00" }`);
  const o = nextWindow(p, E, at('2026-03-28T12:00:00Z'))!;
  assert.equal(iso(o.start), '2026-03-29T01:00:00.000Z'); // 03:00 CEST, the instant of the jump
  assert.equal(iso(o.end), '2026-03-29T03:00:00.000Z'); // 05:00 CEST
});

test('Europe/Berlin fall back: 01:30-03:30 lasts three hours, and an ambiguous 02:30 start means the first 02:30', () => {
  const p = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [sun], start: "01:30", end: "03:30" }`);
  // Sun 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC).
  const o = nextWindow(p, E, at('2026-10-24T12:00:00Z'))!;
  assert.equal(iso(o.start), '2026-10-24T23:30:00.000Z'); // 01:30 CEST
  assert.equal(iso(o.end), '2026-10-25T02:30:00.000Z'); // 03:30 CET
  // 02:15 occurs twice; both are inside.
  assert.equal(isInWindow(p, E, at('2026-10-25T00:15:00Z')), true);
  assert.equal(isInWindow(p, E, at('2026-10-25T01:15:00Z')), true);
  const ambiguous = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [sun], start: "02:30", end: "03:30" }`);
  const a = nextWindow(ambiguous, E, at('2026-10-24T12:00:00Z'))!;
  assert.equal(iso(a.start), '2026-10-25T00:30:00.000Z'); // 02:30 CEST, the first of the two
  assert.equal(iso(a.end), '2026-10-25T02:30:00.000Z'); // 03:30 CET: two real hours
});

test('Europe/Berlin Tue-Thu 10:00-16:00 the week of the fall-back keeps 10:00 local on both sides', () => {
  const p = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [tue, wed, thu], start: "10:00", end: "16:00" }`);
  const thu = nextWindow(p, E, at('2026-10-22T07:00:00Z'))!;
  assert.equal(iso(thu.start), '2026-10-22T08:00:00.000Z'); // CEST, UTC+2
  const tue = nextWindow(p, E, at('2026-10-23T07:00:00Z'))!;
  assert.equal(iso(tue.start), '2026-10-27T09:00:00.000Z'); // CET, UTC+1
  assert.equal(iso(tue.end), '2026-10-27T15:00:00.000Z');
});

test('America/New_York spring forward (2026-03-08): 01:30-03:30 lasts one hour, a 02:30 start opens at 03:00 EDT', () => {
  const p = policyWith(`      time_zone: America/New_York
      weekly:
        - { days: [sun], start: "01:30", end: "03:30" }
        - { days: [sat], start: "02:30", end: "04:00" }`);
  const o = nextWindow(p, E, at('2026-03-08T00:00:00Z'))!;
  assert.equal(iso(o.start), '2026-03-08T06:30:00.000Z'); // 01:30 EST
  assert.equal(iso(o.end), '2026-03-08T07:30:00.000Z'); // 03:30 EDT
  // Saturday's window the week before is ordinary (EST).
  const sat = nextWindow(p, E, at('2026-03-07T00:00:00Z'))!;
  assert.equal(iso(sat.start), '2026-03-07T07:30:00.000Z');
});

test('America/New_York fall back (2026-11-01): 01:30-03:30 lasts three hours from the first 01:30', () => {
  const p = policyWith(`      time_zone: America/New_York
      weekly:
        - { days: [sun], start: "01:30", end: "03:30" }`);
  const o = nextWindow(p, E, at('2026-10-31T12:00:00Z'))!;
  assert.equal(iso(o.start), '2026-11-01T05:30:00.000Z'); // 01:30 EDT
  assert.equal(iso(o.end), '2026-11-01T08:30:00.000Z'); // 03:30 EST
});

test('America/New_York weekday window across the fall-back week, and a window past midnight', () => {
  const p = policyWith(`      time_zone: America/New_York
      weekly:
        - { days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00" }
        - { days: [sat], start: "22:00", end: "02:00" }`);
  const fri = nextWindow(p, E, at('2026-10-30T12:00:00Z'))!;
  assert.equal(iso(fri.start), '2026-10-30T13:00:00.000Z'); // 09:00 EDT
  // Saturday 22:00 EDT runs into Sunday 02:00. That night the clock goes 01:59 EDT -> 01:00 EST, so it
  // first reads 02:00 at 07:00 UTC (EST): the window lasts 5 real hours.
  const sat = nextWindow(p, E, at('2026-10-30T22:00:00Z'))!;
  assert.equal(iso(sat.start), '2026-11-01T02:00:00.000Z');
  assert.equal(iso(sat.end), '2026-11-01T07:00:00.000Z');
  const mon = nextWindow(p, E, at('2026-11-01T07:00:00Z'))!;
  assert.equal(iso(mon.start), '2026-11-02T14:00:00.000Z'); // 09:00 EST
  // The week Berlin and New York are 5 h apart instead of 6: one instant, both zones.
  const berlin = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [mon, tue, wed, thu, fri], start: "14:00", end: "15:00" }`);
  assert.equal(isInWindow(berlin, E, at('2026-10-28T13:30:00Z')), true); // 14:30 CET
  assert.equal(isInWindow(p, E, at('2026-10-28T13:30:00Z')), true); // 09:30 EDT
});

const PROD_WINDOWS = `      time_zone: Europe/Berlin
      weekly:
        - { days: [tue, wed, thu], start: "10:00", end: "16:00" }
      blackouts:
        - { reason: Datacenter move, start: "2026-11-24T00:00:00+01:00", end: "2026-11-25T00:00:00+01:00" }
        - { reason: Database upgrade, start: "2026-11-26T12:00", end: "2026-11-26T14:00" }`;

test('a blackout covering a whole window pushes the opening to the next window and says why', () => {
  const p = policyWith(PROD_WINDOWS);
  const o = nextWindow(p, E, at('2026-11-23T19:00:00Z'))!; // Mon 20:00 Berlin
  assert.equal(iso(o.start), '2026-11-25T09:00:00.000Z'); // Wed 10:00 CET, Tue is blacked out
  assert.deepEqual(
    o.blockedBy.map((b) => b.reason),
    ['Datacenter move'],
  );
  const d = scheduleDecision({ policy: p, environment: { name: 'production', labels: {} }, now: at('2026-11-23T19:00:00Z') });
  assert.equal(d.action, 'scheduled');
  if (d.action !== 'scheduled') return;
  assert.equal(iso(d.at), '2026-11-25T09:00:00.000Z');
  assert.equal(d.reason, 'Next production window: Wed 2026-11-25 10:00–16:00 Europe/Berlin (in 1 d 14 h). Earlier windows are blacked out: Datacenter move.');
  assert.equal(d.scheduledText, 'Scheduled for Wed 2026-11-25 10:00 Europe/Berlin (09:00 UTC).');
});

test('a blackout spanning part of a window (local times) leaves the rest open: the opening is the first instant outside it', () => {
  const p = policyWith(PROD_WINDOWS);
  // Thu 2026-11-26 10:00-16:00 with 12:00-14:00 blacked out.
  const morning = nextWindow(p, E, at('2026-11-26T10:00:00Z'))!; // 11:00 local
  assert.equal(morning.openNow, true);
  assert.equal(iso(morning.start), '2026-11-26T09:00:00.000Z');
  assert.equal(iso(morning.end), '2026-11-26T11:00:00.000Z', 'the opening ends where the blackout begins');
  assert.equal(isInWindow(p, E, at('2026-11-26T11:30:00Z')), false);
  const after = nextWindow(p, E, at('2026-11-26T11:30:00Z'))!;
  assert.equal(iso(after.start), '2026-11-26T13:00:00.000Z'); // 14:00 local
  assert.equal(iso(after.end), '2026-11-26T15:00:00.000Z');
});

test('an environment without windows is open at any time, and its always-open state has no end', () => {
  const p = parsePolicy(`version: 1
environments:
  - name: dev
    approvals: none`);
  const o = nextWindow(p, { name: 'dev', labels: {} }, at('2026-11-24T03:00:00Z'))!;
  assert.equal(o.openNow, true);
  assert.equal(o.end, null);
  const d = scheduleDecision({ policy: p, environment: { name: 'dev', labels: {} }, now: at('2026-11-24T03:00:00Z') });
  assert.deepEqual([d.action, d.reason], ['apply_now', 'Change window for dev: open now.']);
});

test('inside a window: apply now, saying until when', () => {
  const p = policyWith(PROD_WINDOWS);
  const d = scheduleDecision({ policy: p, environment: { name: 'production', labels: {} }, now: at('2026-11-25T10:00:00Z') });
  assert.deepEqual([d.action, d.reason], ['apply_now', 'Change window for production: open now (until 16:00 Europe/Berlin).']);
});

test('the UX line counts hours and minutes to the opening', () => {
  const p = policyWith(PROD_WINDOWS);
  const d = scheduleDecision({ policy: p, environment: { name: 'production', labels: {} }, now: at('2026-11-24T18:40:00Z') });
  assert.equal(d.action, 'scheduled');
  assert.match(d.reason, /^Next production window: Wed 2026-11-25 10:00–16:00 Europe\/Berlin \(in 14 h 20 min\)\./);
});

test('emergency outside the window applies now only where the policy allows an emergency path', () => {
  const allowed = policyWith(PROD_WINDOWS, '    emergency: { allowed: true, approvals: { groups: [platform-approvers] } }');
  const env = { name: 'production', labels: {} };
  const now = at('2026-11-23T19:00:00Z');
  const d = scheduleDecision({ policy: allowed, environment: env, now, emergency: true });
  assert.equal(d.action, 'apply_now');
  assert.match(d.reason, /^Emergency change: applies now, outside the production window\. Next regular window: Wed 2026-11-25/);
  const denied = policyWith(PROD_WINDOWS, '    emergency: { allowed: false }');
  assert.equal(scheduleDecision({ policy: denied, environment: env, now, emergency: true }).action, 'scheduled');
});

test('when blackouts cover every window within the horizon the request is blocked, not scheduled', () => {
  const p = policyWith(`      time_zone: Europe/Berlin
      weekly:
        - { days: [tue], start: "10:00", end: "16:00" }
      blackouts:
        - { reason: Freeze, from_date: "2026-01-01", to_date: "2027-12-31" }`);
  assert.equal(nextWindow(p, E, at('2026-11-23T00:00:00Z'), undefined, { horizonDays: 100 }), null);
  const d = scheduleDecision({ policy: p, environment: E, now: at('2026-11-23T00:00:00Z'), options: { horizonDays: 100 } });
  assert.deepEqual([d.action, d.reason], ['blocked', 'No e change window opens in the next 100 days.']);
  // A long freeze ending within the horizon: the opening is found past it.
  const o = nextWindow(p, E, at('2026-11-23T00:00:00Z'), undefined, { horizonDays: 500 })!;
  assert.equal(iso(o.start), '2028-01-04T09:00:00.000Z');
});

test('an environment no policy covers cannot be scheduled', () => {
  const p = policyWith(PROD_WINDOWS);
  assert.throws(() => nextWindow(p, { name: 'qa', labels: {} }, at('2026-11-23T00:00:00Z')), (err: unknown) => {
    assert.ok(err instanceof PolicyDeniedError);
    assert.match(err.message, /No policy covers environment qa/);
    return true;
  });
});

/** A window source whose blackouts can change between calls, like a ServiceNow schedule edited by a person. */
class ListWindowSource implements WindowSource {
  readonly name = 'change-calendar';
  readonly calls: { env: string; from: string; to: string }[] = [];
  constructor(private readonly entries: ExtraWindows) {}
  add(b: Blackout): void {
    (this.entries.blackouts ??= []).push(b);
  }
  async load(environment: EnvironmentRef, from: Date, to: Date): Promise<ExtraWindows> {
    this.calls.push({ env: environment.name, from: from.toISOString(), to: to.toISOString() });
    return { windows: [...(this.entries.windows ?? [])], blackouts: [...(this.entries.blackouts ?? [])] };
  }
}

test('a blackout added after scheduling moves the request again when its job runs, and the ticket says so', async () => {
  const policy = await loadPolicy({ path: fileURLToPath(new URL('../../examples/policy.yaml', import.meta.url)) });
  const source = new ListWindowSource({});
  const windows = new ChangeWindowService(policy, [source]);
  const production: EnvironmentRef = { name: 'production', labels: { production: true } };

  const first = await windows.scheduleDecision(production, at('2026-11-23T19:00:00Z')); // Mon 20:00 Berlin
  assert.equal(first.action, 'scheduled');
  if (first.action !== 'scheduled') return;
  assert.equal(iso(first.at), '2026-11-24T09:00:00.000Z'); // Tue 10:00

  source.add({ reason: 'Network maintenance', start: at('2026-11-24T06:00:00Z'), end: at('2026-11-24T18:00:00Z'), source: '' });
  const again = await windows.recheck(production, first.at, first.at);
  assert.equal(again.action, 'moved');
  if (again.action !== 'moved') return;
  assert.equal(iso(again.at), '2026-11-25T09:00:00.000Z');
  assert.equal(again.reason, 'Moved: a blackout (Network maintenance) now covers Tue; rescheduled to Wed 2026-11-25 10:00 Europe/Berlin.');
  assert.equal(again.blackout?.source, 'change-calendar', 'a source blackout is named after its source');
  assert.ok(source.calls.every((c) => c.env === 'production'));

  // When the moved job runs, the window is open.
  const third = await windows.recheck(production, again.at, again.at);
  assert.equal(third.action, 'apply_now');
  // And the policy's own Black Friday blackout (Fri-Mon) does not touch Tue-Thu windows.
  assert.equal(await windows.isInWindow(production, at('2026-11-26T09:30:00Z')), true);
});

test('extra windows from a source add openings outside the weekly ones', async () => {
  const policy = policyWith(PROD_WINDOWS);
  const source = new ListWindowSource({ windows: [{ start: at('2026-11-28T08:00:00Z'), end: at('2026-11-28T10:00:00Z') }] });
  const windows = new ChangeWindowService(policy, [source]);
  const o = await windows.nextWindow(E, at('2026-11-27T16:00:00Z')); // Fri after the window closed
  assert.equal(iso(o?.start), '2026-11-28T08:00:00.000Z');
  assert.equal(nextWindow(policy, E, at('2026-11-27T16:00:00Z'))?.start.toISOString(), '2026-12-01T09:00:00.000Z', 'without the source: next Tuesday');
});

test('recheck with the old instant still open applies; with nothing changed but the job early it stays', () => {
  const p = policyWith(PROD_WINDOWS);
  const env = { name: 'production', labels: {} };
  const early = recheckSchedule({ policy: p, environment: env, now: at('2026-11-25T08:59:00Z'), scheduledFor: at('2026-11-25T09:00:00Z') });
  assert.equal(early.action, 'moved');
  assert.match(early.reason, /^Still scheduled for Wed 2026-11-25 10:00 Europe\/Berlin \(09:00 UTC\)\.$/);
  const onTime = recheckSchedule({ policy: p, environment: env, now: at('2026-11-25T09:00:00Z'), scheduledFor: at('2026-11-25T09:00:00Z') });
  assert.equal(onTime.action, 'apply_now');
});
