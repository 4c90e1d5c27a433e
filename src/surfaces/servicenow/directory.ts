/**
 * Who is who on the instance: people (`sys_user`) and their groups (`sys_user_grmember`), for
 * the policy's checks, for crediting whoever filed, approved or wrote a command, and for the
 * approver groups' members. Every answer found is reused for a short while (see
 * {@link RecentAnswers}: a change on the instance is seen at most that long after), so one
 * ticket's checks of the same person or group ask the instance once.
 */
import type { Actor } from '../../engine/model.ts';
import type { Directory, DirectoryUser } from '../../policy/index.ts';
import { CachedDirectory, RecentAnswers } from '../shared/directory-cache.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';

/** The columns of a person read once for every use (directory, actor, credit). */
const PERSON_FIELDS = ['sys_id', 'user_name', 'name', 'email', 'active'];

/** Options of {@link ServiceNowDirectory}. */
export interface ServiceNowDirectoryOptions {
  /** How long an answer is reused, in ms; 0: always ask the instance. */
  ttlMs: number;
  /** The clock of the cache (ms since the epoch); default `Date.now`. */
  now?: () => number;
}

/** People and groups of the instance, each answer reused for a short while. */
export class ServiceNowDirectory implements Directory {
  private readonly people: RecentAnswers<ServiceNowRow>;
  private readonly members: RecentAnswers<string[]>;
  private readonly cached: CachedDirectory;

  constructor(
    private readonly client: ServiceNowClient,
    options: ServiceNowDirectoryOptions,
  ) {
    const cache = { ttlMs: options.ttlMs, ...(options.now ? { now: options.now } : {}) };
    this.people = new RecentAnswers(cache, (row) => ({ ...row }));
    this.members = new RecentAnswers(cache, (users) => [...users]);
    this.cached = new CachedDirectory({ getUser: (id) => this.lookUpUser(id) }, cache);
  }

  /** {@inheritDoc Directory.getUser} A person by sys_id or user_name, with the active groups they belong to. */
  getUser(id: string): Promise<DirectoryUser | null> {
    return this.cached.getUser(id);
  }

  /** The person with sys_id `sysId` as an actor; unknown: an actor of that id alone. */
  async actorOf(sysId: string): Promise<Actor> {
    const u = await this.person(sysId, 'sys_id');
    return u ? actor(u) : { id: sysId || 'unknown' };
  }

  /** The person whose user_name is `userName` as an actor, if there is one. */
  async userByName(userName: string): Promise<Actor | undefined> {
    const u = await this.person(userName, 'user_name');
    return u ? actor(u) : undefined;
  }

  /** The sys_ids of the active members of the group named `group` (an empty group is asked again next time). */
  async groupMembers(group: string): Promise<string[]> {
    const users = await this.members.get(group, async () => {
      const rows = await this.client.list('sys_user_grmember', { query: `group.name=${q(group)}^user.active=true`, fields: ['user'] });
      return rows.length ? rows.map((m) => m.user ?? '') : null;
    });
    return users ?? [];
  }

  private async lookUpUser(id: string): Promise<DirectoryUser | null> {
    const u = await this.person(id, 'either');
    if (!u) return null;
    const groups = await this.client.list('sys_user_grmember', { query: `user=${q(u.sys_id!)}^group.active=true`, fields: ['group.name'] });
    return { id: u.sys_id!, displayName: u.name || u.user_name || u.sys_id!, active: u.active === 'true', groups: [...new Set(groups.map((g) => g['group.name'] ?? '').filter(Boolean))] };
  }

  /**
   * One person by sys_id, by user_name, or by either: an answer found by any of them is
   * remembered under both, so the requester looked up by sys_id and credited by user_name is one read.
   */
  private async person(value: string, by: 'sys_id' | 'user_name' | 'either'): Promise<ServiceNowRow | undefined> {
    if (!value) return undefined;
    const keys = by === 'either' ? [`sys_id:${value}`, `user_name:${value}`] : [`${by}:${value}`];
    for (const key of keys) {
      const hit = this.people.recent(key);
      if (hit) return hit;
    }
    return this.people.get<undefined>(`${by}:${value}`, async () => {
      const query = by === 'either' ? `sys_id=${q(value)}^ORuser_name=${q(value)}` : `${by}=${q(value)}`;
      const [u] = await this.client.list('sys_user', { query, fields: PERSON_FIELDS, max: 1 });
      if (u?.sys_id) this.people.remember(`sys_id:${u.sys_id}`, u);
      if (u?.user_name) this.people.remember(`user_name:${u.user_name}`, u);
      return u;
    });
  }
}

function actor(u: ServiceNowRow): Actor {
  return { id: u.sys_id!, ...(u.name ? { displayName: u.name } : {}), ...(u.email ? { email: u.email } : {}) };
}

/** A literal value inside an encoded query: `^` is written `^^`. */
function q(value: string): string {
  return value.replace(/\^/g, '^^');
}
