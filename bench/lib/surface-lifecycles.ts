/**
 * The two surfaces' lifecycles for `countLifecycle`: a no-op request in the Jira story world
 * (`startStoryWorld` with the bench's noop bundle), and the database request in the ServiceNow
 * world (`startServiceNowWorld`; what its plan runs does not change what the service calls).
 */
import type { StoryWorld } from '../../src/demo/story.ts';
import type { ServiceNowWorld } from '../../src/demo/servicenow-world.ts';
import { adfPlain } from '../../src/demo/story-steps.ts';
import { orderDatabase, workNotes } from '../../src/demo/servicenow-steps.ts';
import { PEOPLE, STATUSES } from '../../sandbox/jira/index.ts';
import { PEOPLE as SN_PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { routeNamer, type LoggedCall } from './call-count.ts';
import type { LifecycleWorld } from './lifecycle-count.ts';
import { fileNoopRequest } from './noop-request.ts';

type Engine = StoryWorld['runtime']['opened']['engine'];

const SHOWN = { plan: /AWAITING APPROVAL/, result: /APPLIED/ };

/** The history instants of the ticket's request, in real epoch ms (`offset`: how far the world's clock is ahead). */
async function historyOf(engine: Engine, surface: 'jira' | 'servicenow', ref: string, offset = 0): Promise<{ approved?: number; applied?: number }> {
  const [req] = await engine.requests.forOrigin(surface, ref);
  const at = (to: string) => {
    const h = req?.history.find((x) => x.to === to);
    return h ? Date.parse(h.at) - offset : undefined;
  };
  return { approved: at('approved'), applied: at('applied') };
}

/** The Jira story world's lifecycle of one no-op request (approved by a transition, as in INFRA). */
export function jiraLifecycle(world: StoryWorld, n: () => number): LifecycleWorld {
  const sb = world.sandbox;
  const api = (): LoggedCall[] => sb.calls.filter((c) => c.path.startsWith('/rest/'));
  const shown = (key: string, what: 'plan' | 'result'): number | undefined => {
    const id = sb.state.issue(key).id;
    const hit = sb.calls.find((c) => {
      const m = /^\/rest\/api\/3\/issue\/([^/]+)\/comment(?:\/[^/]+)?$/.exec(c.path);
      if (!m || (m[1] !== key && m[1] !== id) || (c.method !== 'POST' && c.method !== 'PUT') || c.status >= 300) return false;
      const body = (c.body as { body?: unknown } | undefined)?.body;
      return body !== undefined && SHOWN[what].test(adfPlain(body));
    });
    return hit?.at.getTime();
  };
  return {
    calls: api,
    name: routeNamer(sb.routes),
    file: () => fileNoopRequest(world, PEOPLE.developer, { package: `count-${n()}`, label: `count-${n()}` }),
    shown,
    approve: (key) => void sb.as(PEOPLE.approver).transition(key, STATUSES.approved),
    history: (key) => historyOf(world.runtime.opened.engine, 'jira', key),
    redisUrl: world.redis.url,
  };
}

/**
 * The ServiceNow world's lifecycle of one database request (approved on its approval record);
 * `offset`: how far the world's clock runs ahead of the real one.
 */
export function serviceNowLifecycle(world: ServiceNowWorld, n: () => number, offset: number): LifecycleWorld {
  const sb = world.sandbox;
  // The sandbox answers on the world's (shifted) clock: its call times are brought back to the real one.
  const api = (): LoggedCall[] => sb.calls.filter((c) => c.path.startsWith('/api/')).map((c) => ({ ...c, at: new Date(c.at.getTime() - offset) }));
  // The note as the sandbox holds it; its write is the last write call naming the item before it was seen.
  const shown = (ritm: string, what: 'plan' | 'result'): number | undefined => {
    if (!workNotes(sb, ritm).some((n) => n.status && SHOWN[what].test(n.text))) return undefined;
    const write = sb.calls.findLast((c) => c.method !== 'GET' && c.status < 300 && (c.path.includes(ritm) || JSON.stringify(c.body ?? '').includes(ritm)));
    return write ? write.at.getTime() - offset : Date.now();
  };
  return {
    calls: api,
    name: routeNamer(sb.routes, ['tableName']),
    file: async () => {
      const i = n();
      return (await orderDatabase(world, SN_PEOPLE.developer, { package: `count-${i}`, database: `count_db_${i}`, username: `count_app_${i}`, size: 20 })).sysId;
    },
    shown,
    approve: (ritm) => void sb.as(SN_PEOPLE.approver).approve(ritm),
    history: (ritm) => historyOf(world.runtime.opened.engine, 'servicenow', ritm, offset),
    redisUrl: world.redis.url,
  };
}
