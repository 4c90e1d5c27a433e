/**
 * A directory backed by a fixed list of users: for the CLI and API when no ticket system
 * answers directory questions, and for the demo. The Jira and ServiceNow adapters implement
 * {@link Directory} against their own user APIs.
 */
import { z } from 'zod';
import { loadConfigFile } from '../engine/config-file.ts';
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

const directoryFileSchema = z.object({
  users: z.array(z.object({ id: z.string().min(1), displayName: z.string().optional(), active: z.boolean().default(true), groups: z.array(z.string()).default([]) })),
});

/** Loads the API/CLI directory file (DIRECTORY_FILE). */
export async function loadDirectory(path: string): Promise<Directory> {
  const data = await loadConfigFile(path, 'DIRECTORY_FILE', directoryFileSchema);
  return new StaticDirectory(data.users.map((u) => ({ id: u.id, displayName: u.displayName ?? u.id, active: u.active, groups: u.groups })));
}
