/**
 * API tokens: a bearer credential bound to one person of the directory and one role.
 *
 * A token reads `tsk_<id>_<secret>`. It is shown once, when it is created; Redis keeps only its
 * SHA-256 hash with the record (person, role, label, who made it, when it expires, when it was
 * revoked). Every call reads the record, so a revocation holds from the next call on. Creating,
 * listing and revoking need the admin role; each change is audited (`token.create`,
 * `token.revoke`) in the same atomic step as the record.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { AuditLog } from '../engine/audit.ts';
import { NotFoundError, SystemError, ValidationError } from '../engine/errors.ts';
import type { Clock } from '../engine/model.ts';
import { ROLES, type Role } from '../policy/index.ts';
import { NotAuthenticatedError, type Authorizer, type Principal } from './authorize.ts';

/** Prefix every API token starts with. */
export const TOKEN_PREFIX = 'tsk_';

/** A stored API token (never the token itself). */
export interface ApiToken {
  /** Public id, the part after `tsk_`; what `list` shows and `revoke` takes. */
  id: string;
  /** Directory person the token acts as. */
  person: string;
  /** The most the token allows (the person must hold it too). */
  role: Role;
  label?: string;
  createdAt: string;
  /** Person id of the admin who made it. */
  createdBy: string;
  expiresAt?: string;
  revokedAt?: string;
  revokedBy?: string;
}

/** What {@link TokenStore.create} returns: the token (shown this once) and its record. */
export interface IssuedToken {
  token: string;
  record: ApiToken;
}

/** Input of {@link TokenStore.create}. */
export interface NewToken {
  person: string;
  role: Role;
  label?: string;
  expiresAt?: Date;
}

/** Dependencies of {@link TokenStore}. */
export interface TokenStoreDeps {
  redis: Redis;
  /** Key prefix shared with the inventory. */
  prefix: string;
  audit: AuditLog;
  clock: Clock;
  authorizer: Authorizer;
}

/** A stored record: the token's record and the hash of its text. */
interface StoredToken extends ApiToken {
  sha256: string;
}

const ID_PATTERN = /^tk[0-9a-f]{10}$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function publicRecord(stored: StoredToken): ApiToken {
  const { sha256: _hash, ...record } = stored;
  return record;
}

/** Creates, lists, revokes and verifies API tokens; see the file comment. */
export class TokenStore {
  constructor(private readonly deps: TokenStoreDeps) {}

  private get key(): string {
    return `${this.deps.prefix}api-tokens`;
  }

  /**
   * Makes a token for `input.person` with `input.role` (which they must hold in the directory).
   * `by` must hold the admin role. Returns the token text, which is not kept anywhere.
   */
  async create(input: NewToken, by: Principal): Promise<IssuedToken> {
    const { authorizer, clock, audit } = this.deps;
    await authorizer.require(by, 'token.manage');
    this.checkNew(input);
    const id = `tk${randomBytes(5).toString('hex')}`;
    const token = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const record: ApiToken = {
      id,
      person: input.person,
      role: input.role,
      ...(input.label ? { label: input.label } : {}),
      createdAt: clock.now().toISOString(),
      createdBy: by.person.id,
      ...(input.expiresAt ? { expiresAt: input.expiresAt.toISOString() } : {}),
    };
    const stored: StoredToken = { ...record, sha256: sha256(token) };
    const result = await audit.commit(
      { actor: by.account, surface: by.surface, action: 'token.create', subject: { type: 'api-token', id }, after: record },
      { guard: { key: this.key, field: id, expect: 'absent' }, ops: [{ op: 'hset', key: this.key, field: id, value: JSON.stringify(stored) }] },
    );
    if (!result.ok) throw new SystemError(`token ${id} could not be stored: ${result.reason}`);
    return { token, record };
  }

  /** Refuses a token for someone the directory does not list, who is inactive, or who does not hold the role. */
  private checkNew(input: NewToken): void {
    const { authorizer } = this.deps;
    if (!ROLES.includes(input.role)) {
      throw new ValidationError(`role must be one of ${ROLES.join(', ')}`, [{ pointer: '/role', field: 'role', message: `must be one of ${ROLES.join(', ')}` }]);
    }
    const person = authorizer.people.get(input.person);
    if (!person) throw new ValidationError(`the directory lists no person "${input.person}"`, [{ pointer: '/person', field: 'person', message: 'is not in the directory' }]);
    if (!authorizer.holds(person, input.role)) {
      const message = person.active ? `${person.displayName} does not hold the ${input.role} role in the directory` : `${person.displayName} is not active in the directory`;
      throw new ValidationError(message, [{ pointer: '/role', field: 'role', message }]);
    }
    if (input.expiresAt && input.expiresAt.getTime() <= this.deps.clock.now().getTime()) {
      throw new ValidationError('a token must expire in the future', [{ pointer: '/expiresAt', field: 'expiresAt', message: 'must be in the future' }]);
    }
  }

  /** The tokens (revoked ones too when asked), oldest first, without their hashes. `by` must hold the admin role. */
  async list(by: Principal, filter: { person?: string; includeRevoked?: boolean } = {}): Promise<ApiToken[]> {
    await this.deps.authorizer.require(by, 'token.manage');
    const all = Object.values(await this.deps.redis.hgetall(this.key)).map((raw) => publicRecord(JSON.parse(raw) as StoredToken));
    return all
      .filter((t) => (filter.person === undefined || t.person === filter.person) && (filter.includeRevoked || !t.revokedAt))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Revokes token `id` (from the next call on). Revoking a revoked token changes nothing. `by` must hold the admin role. */
  async revoke(id: string, by: Principal, reason?: string): Promise<ApiToken> {
    await this.deps.authorizer.require(by, 'token.manage');
    const stored = await this.read(id);
    if (!stored) throw new NotFoundError('API token', id);
    if (stored.revokedAt) return publicRecord(stored);
    const next: StoredToken = { ...stored, revokedAt: this.deps.clock.now().toISOString(), revokedBy: by.person.id };
    const result = await this.deps.audit.commit(
      {
        actor: by.account,
        surface: by.surface,
        action: 'token.revoke',
        subject: { type: 'api-token', id },
        ...(reason ? { reason } : {}),
        before: publicRecord(stored),
        after: publicRecord(next),
      },
      { guard: { key: this.key, field: id, expect: 'present' }, ops: [{ op: 'hset', key: this.key, field: id, value: JSON.stringify(next) }] },
    );
    if (!result.ok) throw new NotFoundError('API token', id);
    return publicRecord(next);
  }

  private async read(id: string): Promise<StoredToken | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    const raw = await this.deps.redis.hget(this.key, id);
    return raw ? (JSON.parse(raw) as StoredToken) : undefined;
  }

  /**
   * The record of a presented token; a {@link NotAuthenticatedError} saying what is wrong when
   * it is not a token of ours, was revoked or has expired. The hash is compared in constant time.
   */
  async verify(token: string): Promise<ApiToken> {
    const m = /^tsk_(tk[0-9a-f]{10})_[A-Za-z0-9_-]{43}$/.exec(token);
    const stored = m ? await this.read(m[1]!) : undefined;
    const presented = Buffer.from(sha256(token), 'hex');
    if (!stored || !timingSafeEqual(presented, Buffer.from(stored.sha256, 'hex'))) throw new NotAuthenticatedError('unknown_token', 'unknown API token');
    if (stored.revokedAt) throw new NotAuthenticatedError('revoked', `API token ${stored.id} was revoked`);
    if (stored.expiresAt && Date.parse(stored.expiresAt) <= this.deps.clock.now().getTime()) {
      throw new NotAuthenticatedError('expired', `API token ${stored.id} expired at ${stored.expiresAt}`);
    }
    return publicRecord(stored);
  }
}
