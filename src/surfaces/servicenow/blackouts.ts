/**
 * ServiceNow blackout schedules (`cmn_schedule_blackout` with their `cmn_schedule_span` entries)
 * as an extra {@link WindowSource}: a change freeze entered in ServiceNow holds back production
 * requests the same way a blackout in the policy file does.
 *
 * Schedule entries store local times of the schedule's time zone as `yyyyMMddTHHmmss`; they are
 * read in that zone (UTC when the schedule names none). Repeating entries (`repeat_type` set) are
 * not expanded: they are skipped with a warning rather than guessed at.
 */
import { DateTime } from 'luxon';
import type { Logger } from '../../engine/logger.ts';
import type { Blackout, EnvironmentRef, ExtraWindows, WindowSource } from '../../policy/index.ts';
import type { ServiceNowClient } from './client.ts';
import type { ServiceNowSurfaceConfig } from './config.ts';

/** Dependencies of {@link ServiceNowBlackoutSource}. */
export interface ServiceNowBlackoutSourceDeps {
  client: ServiceNowClient;
  config: ServiceNowSurfaceConfig['blackouts'];
  logger: Logger;
}

/** Parses `yyyyMMddTHHmmss` in `zone`; undefined when malformed. */
export function parseScheduleDateTime(value: string, zone: string): Date | undefined {
  const d = DateTime.fromFormat(value, "yyyyMMdd'T'HHmmss", { zone: zone || 'UTC' });
  return d.isValid ? d.toJSDate() : undefined;
}

/** Change blackouts from the ServiceNow instance. */
export class ServiceNowBlackoutSource implements WindowSource {
  readonly name = 'servicenow-blackouts';
  private cache?: { at: number; blackouts: Blackout[] };

  constructor(private readonly deps: ServiceNowBlackoutSourceDeps) {}

  /** {@inheritDoc WindowSource.load} */
  async load(environment: EnvironmentRef, from: Date, to: Date): Promise<ExtraWindows> {
    const { config } = this.deps;
    if (!config.enabled) return {};
    if (config.environments === 'production' && environment.labels?.production !== true) return {};
    const all = await this.all();
    return { blackouts: all.filter((b) => b.end > from && b.start < to) };
  }

  /** Every blackout span of every blackout schedule (cached for `cacheMs`). */
  async all(): Promise<Blackout[]> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < this.deps.config.cacheMs) return this.cache.blackouts;
    const { client, logger } = this.deps;
    const schedules = await client.list('cmn_schedule_blackout', { fields: ['sys_id', 'name', 'time_zone'] });
    const blackouts: Blackout[] = [];
    if (schedules.length) {
      const byId = new Map(schedules.map((s) => [s.sys_id!, s]));
      const spans = await client.list('cmn_schedule_span', {
        query: `scheduleIN${[...byId.keys()].join(',')}`,
        fields: ['sys_id', 'schedule', 'name', 'start_date_time', 'end_date_time', 'repeat_type'],
      });
      for (const s of spans) {
        const schedule = byId.get(s.schedule ?? '');
        if (!schedule) continue;
        if (s.repeat_type && s.repeat_type !== 'none') {
          logger.warn({ schedule: schedule.name, span: s.name, repeat: s.repeat_type }, 'repeating blackout entry skipped');
          continue;
        }
        const zone = schedule.time_zone || 'UTC';
        const start = parseScheduleDateTime(s.start_date_time ?? '', zone);
        const end = parseScheduleDateTime(s.end_date_time ?? '', zone);
        if (!start || !end || end <= start) {
          logger.warn({ schedule: schedule.name, span: s.name }, 'blackout entry without a readable start and end skipped');
          continue;
        }
        blackouts.push({ reason: s.name || schedule.name || 'ServiceNow blackout', start, end, source: this.name });
      }
    }
    this.cache = { at: now, blackouts };
    return blackouts;
  }
}
