/**
 * People: one identity per person across every surface.
 *
 * The directory file (DIRECTORY_FILE) lists each person once, with the id they have on each
 * surface (Jira account id, ServiceNow user sys_id or user_name, OpenID Connect subject, CLI
 * user), their email, groups and roles. {@link PersonResolver} turns a surface's actor into that
 * person, so separation of duties and "one person counts once" compare people: whoever files in
 * Jira is the same person when they approve through the API, the CLI or ServiceNow.
 *
 * An id that would name two people is refused when the file is loaded (or, for an id the
 * surface knows by another name, when it is first resolved), never guessed.
 */
import { ConfigError } from '../engine/errors.ts';
import type { Actor, SurfaceName } from '../engine/model.ts';
import type { Directory, DirectoryUser } from './types.ts';

/**
 * What a person (or a credential) may do. `reader`: read and ask questions. `requester`: file
 * requests and cancel their own. `approver`: approve and reject, through the policy's approval
 * groups. `admin`: everything, including attesting versions, creating projects and
 * environments, syncing forms and managing API tokens.
 */
export type Role = 'reader' | 'requester' | 'approver' | 'admin';

/** Every role, from the least to the most a credential may allow. */
export const ROLES: readonly Role[] = ['reader', 'requester', 'approver', 'admin'];

/** Where a person has ids of their own: the ticket surfaces, the CLI (OS user) and OpenID Connect (subject). */
export type IdentityKind = 'jira' | 'servicenow' | 'cli' | 'oidc';

/** Every {@link IdentityKind}. */
export const IDENTITY_KINDS: readonly IdentityKind[] = ['jira', 'servicenow', 'cli', 'oidc'];

/** One person of the directory. */
export interface Person {
  /** The directory id: what audit events, approvals and API tokens name. */
  id: string;
  displayName: string;
  active: boolean;
  email?: string;
  groups: string[];
  /** Roles the directory grants (`approver` is not among them: it comes from the policy's groups). */
  roles: Role[];
  /** Ids on each surface. The CLI id defaults to the person id. */
  ids: Record<IdentityKind, string[]>;
}

/** Which index an id lives in: a surface's ids, or emails. */
type IndexName = IdentityKind | 'email';

/** Emails compare without case. */
function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * The people of the directory, indexed by every id they have. Construction refuses (with a
 * {@link ConfigError} naming both people) a person id, surface id or email listed twice.
 */
export class People {
  private readonly byId = new Map<string, Person>();
  private readonly index: Record<IndexName, Map<string, Person>> = { jira: new Map(), servicenow: new Map(), cli: new Map(), oidc: new Map(), email: new Map() };

  constructor(people: Person[], private readonly source = 'DIRECTORY_FILE') {
    for (const p of people) {
      const dup = this.byId.get(p.id);
      if (dup) throw new ConfigError(source, `person id "${p.id}" is listed twice`);
      this.byId.set(p.id, p);
    }
    for (const p of people) {
      for (const kind of IDENTITY_KINDS) for (const id of p.ids[kind]) this.add(kind, id, p);
      if (p.email) this.add('email', emailKey(p.email), p);
    }
  }

  private add(index: IndexName, id: string, p: Person): void {
    const other = this.index[index].get(id);
    if (other && other.id !== p.id) {
      throw new ConfigError(this.source, `${index === 'email' ? 'email' : `${index} id`} "${id}" is listed for both ${other.id} and ${p.id}; one id names one person`);
    }
    this.index[index].set(id, p);
  }

  /** The person with this directory id. */
  get(id: string): Person | undefined {
    return this.byId.get(id);
  }

  /** Everyone, in the order of the file. */
  list(): Person[] {
    return [...this.byId.values()];
  }

  /** The person with this id on `kind`. */
  bySurfaceId(kind: IdentityKind, id: string): Person | undefined {
    return this.index[kind].get(id);
  }

  /** The person with this email (any case). */
  byEmail(email: string): Person | undefined {
    return this.index.email.get(emailKey(email));
  }

  /**
   * The directory an approval through the API (`http`, keyed by person id) or the CLI (`cli`,
   * keyed by CLI user) is checked against. Its users carry the id they were asked by.
   */
  directoryFor(kind: 'http' | 'cli'): Directory {
    return {
      getUser: async (id: string): Promise<DirectoryUser | null> => {
        const p = kind === 'http' ? this.get(id) : this.bySurfaceId('cli', id);
        return p ? { id, displayName: p.displayName, active: p.active, groups: [...p.groups] } : null;
      },
    };
  }
}

/** The surfaces whose people are found through a ticket system's own ids. */
type TicketKind = 'jira' | 'servicenow';

/**
 * Finds the person behind a surface's actor. The API's actors are people already; the CLI's are
 * found by CLI user; a ticket surface's by its account id, else by the id its own directory
 * gives an id the file lists (a ServiceNow user_name listed, a sys_id acting), else by email.
 */
export class PersonResolver {
  /** Per ticket surface: the people by the canonical id the surface's directory gives their listed ids. */
  private readonly canonical: Partial<Record<TicketKind, Promise<Map<string, Person>>>> = {};

  /**
   * @param people the directory
   * @param directories the surfaces' own directories (read at each use: the runtime adds them as it wires surfaces)
   */
  constructor(
    readonly people: People,
    private readonly directories: () => Partial<Record<SurfaceName, Directory>>,
  ) {}

  /** The person behind `actor` on `surface`, or undefined when the directory does not list them. */
  async personOf(actor: Actor, surface: SurfaceName): Promise<Person | undefined> {
    switch (surface) {
      case 'http':
        return this.people.get(actor.id);
      case 'cli':
        return this.people.bySurfaceId('cli', actor.id);
      case 'jira':
      case 'servicenow':
        return this.ticketPerson(actor, surface);
      default:
        return undefined;
    }
  }

  /** `actor` with the person it belongs to (`person` removed when the directory does not list them). */
  async identify(actor: Actor, surface: SurfaceName): Promise<Actor> {
    const { person: _claimed, ...rest } = actor;
    const p = await this.personOf(rest, surface);
    return p ? { ...rest, person: p.id } : rest;
  }

  /** What separation of duties compares: the person's id, else the stamped person, else the surface id. */
  async keyOf(actor: Actor, surface: SurfaceName): Promise<string> {
    return (await this.personOf(actor, surface))?.id ?? actor.person ?? actor.id;
  }

  private async ticketPerson(actor: Actor, kind: TicketKind): Promise<Person | undefined> {
    const listed = this.people.bySurfaceId(kind, actor.id);
    if (listed) return listed;
    const canonical = (await this.canonicalIds(kind)).get(actor.id);
    if (canonical) return canonical;
    return actor.email ? this.people.byEmail(actor.email) : undefined;
  }

  /**
   * The people of `kind` by the id the surface's directory answers for each id the file lists
   * (once per process; a failed lookup is tried again next time).
   */
  private canonicalIds(kind: TicketKind): Promise<Map<string, Person>> {
    const directory = this.directories()[kind];
    if (!directory) return Promise.resolve(new Map());
    const known = this.canonical[kind];
    if (known) return known;
    const built = this.lookUpListedIds(kind, directory);
    this.canonical[kind] = built;
    built.catch(() => {
      if (this.canonical[kind] === built) delete this.canonical[kind];
    });
    return built;
  }

  private async lookUpListedIds(kind: TicketKind, directory: Directory): Promise<Map<string, Person>> {
    const out = new Map<string, Person>();
    const listed = this.people.list().flatMap((p) => p.ids[kind].map((id) => ({ p, id })));
    const users = await Promise.all(listed.map(({ id }) => directory.getUser(id)));
    listed.forEach(({ p, id }, i) => {
      const user = users[i];
      if (!user || user.id === id) return;
      const other = out.get(user.id) ?? this.people.bySurfaceId(kind, user.id);
      if (other && other.id !== p.id) {
        throw new ConfigError('DIRECTORY_FILE', `${kind} user "${user.id}" is listed for both ${other.id} and ${p.id}; one id names one person`);
      }
      out.set(user.id, p);
    });
    return out;
  }
}
