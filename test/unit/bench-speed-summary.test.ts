/**
 * The ticket-to-plan bench's last line keeps one form run after run (bench/lib/speed-summary.ts):
 * checked on the report function with made-up figures, never on timings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { speedSummaryLine } from '../../bench/lib/speed-summary.ts';

const FORM =
  /^speed: jira-calls created->plan (\d+|n\/a), lifecycle (\d+|n\/a); redis round-trips per ticket (\d+|n\/a); service cpu per ticket (\d+(?:\.\d+)?|n\/a) ms; lone p50 (\d+|n\/a) ms; 100-in-flight p99 (\d+|n\/a) ms \(2 workers\); load (\d+(?:\.\d+)?|n\/a)$/;

test('the summary line has the agreed form, one line, figures in their places', () => {
  const line = speedSummaryLine({ jiraCallsToPlan: 6, jiraCallsLifecycle: 30, redisRoundTrips: 287.4, serviceCpuMs: 41.25, loneP50Ms: 131.6, inFlightP99Ms: 2450, load: 7.314 });
  assert.equal(line, 'speed: jira-calls created->plan 6, lifecycle 30; redis round-trips per ticket 287; service cpu per ticket 41.3 ms; lone p50 132 ms; 100-in-flight p99 2450 ms (2 workers); load 7.31');
  assert.match(line, FORM);
  assert.ok(!line.includes('\n'));
});

test('a figure that was not measured reads n/a and the line keeps its form', () => {
  const line = speedSummaryLine({ jiraCallsToPlan: Number.NaN, jiraCallsLifecycle: 10, redisRoundTrips: Number.NaN, serviceCpuMs: Number.NaN, loneP50Ms: 90, inFlightP99Ms: Number.POSITIVE_INFINITY, load: 0.5 });
  assert.match(line, FORM);
  assert.match(line, /created->plan n\/a, lifecycle 10;/);
  assert.match(line, /100-in-flight p99 n\/a ms/);
});
