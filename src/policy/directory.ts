/**
 * The directory file (DIRECTORY_FILE): the people who use ticket-surface, with their id on each
 * surface, their groups and roles (see identity.ts). {@link StaticDirectory} is a
 * {@link Directory} over a fixed list of users, for tests and tools; the Jira and ServiceNow
 * adapters implement {@link Directory} against their own user APIs.
 */
import { z } from 'zod';
import { loadConfigFile } from '../engine/config-file.ts';
import { IDENTITY_KINDS, People, type IdentityKind, type Person } from './identity.ts';
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

/** One id or several. */
const idList = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v]));

const personSchema = z.object({
  id: z.string().min(1),
  displayName: z.string().optional(),
  active: z.boolean().default(true),
  email: z.email().optional(),
  groups: z.array(z.string()).default([]),
  roles: z
    .array(z.enum(['reader', 'requester', 'admin'], { message: 'must be reader, requester or admin (approvers are the members of the groups the policy names)' }))
    .default(['requester']),
  ids: z.object({ jira: idList.optional(), servicenow: idList.optional(), cli: idList.optional(), oidc: idList.optional() }).strict().default({}),
});

/** `people:` (each with ids per surface); `users:` is the older name of the same list. */
const directoryFileSchema = z
  .object({ people: z.array(personSchema).optional(), users: z.array(personSchema).optional() })
  .refine((d) => d.people || d.users, { message: 'lists no people (a people: list is required)' });

/** A person as the file describes them, with the defaults filled in. */
function personOf(entry: z.output<typeof personSchema>): Person {
  const ids = Object.fromEntries(IDENTITY_KINDS.map((k) => [k, entry.ids[k] ?? []])) as Record<IdentityKind, string[]>;
  if (!entry.ids.cli) ids.cli = [entry.id];
  return {
    id: entry.id,
    displayName: entry.displayName ?? entry.id,
    active: entry.active,
    ...(entry.email ? { email: entry.email } : {}),
    groups: entry.groups,
    roles: entry.roles,
    ids,
  };
}

/** Reads and checks the directory file; an id naming two people stops the start with a ConfigError. */
export async function loadPeople(path: string): Promise<People> {
  const data = await loadConfigFile(path, 'DIRECTORY_FILE', directoryFileSchema);
  return new People([...(data.people ?? []), ...(data.users ?? [])].map(personOf));
}

/** A directory of the given users (tests and tools); each is a requester known to the CLI by their id. */
export function peopleOf(users: (Omit<Partial<Person>, 'ids'> & { id: string; ids?: Partial<Record<IdentityKind, string[]>> })[]): People {
  return new People(
    users.map((u) => ({
      displayName: u.id,
      active: true,
      groups: [],
      roles: ['requester'],
      ...u,
      ids: Object.fromEntries(IDENTITY_KINDS.map((k) => [k, u.ids?.[k] ?? (k === 'cli' ? [u.id] : [])])) as Record<IdentityKind, string[]>,
    })),
    'directory',
  );
}
