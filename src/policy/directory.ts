/**
 * A directory backed by a fixed list of users: for the CLI and API when no ticket system
 * answers directory questions, and for the demo. The Jira and ServiceNow adapters implement
 * {@link Directory} against their own user APIs.
 */
import type { Directory, DirectoryUser } from './types.ts';

/** {@link Directory} over a fixed list of users (for example from configuration). */
export class StaticDirectory implements Directory {
  private readonly users: ReadonlyMap<string, DirectoryUser>;

  constructor(users: DirectoryUser[]) {
    this.users = new Map(users.map((u) => [u.id, { ...u, groups: [...u.groups] }]));
  }

  /** The user with this id, or null when the list does not have them. */
  async getUser(id: string): Promise<DirectoryUser | null> {
    const u = this.users.get(id);
    return u ? { ...u, groups: [...u.groups] } : null;
  }
}
