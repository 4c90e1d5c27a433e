/**
 * Attestations on bundle versions (for example `qa-signed`: who signed, when, a note), kept in
 * Redis and audited. Forms use {@link AttestationStore.versionsWith} to offer "only qa-signed
 * versions, newest first"; policy uses {@link AttestationStore.get} to check one.
 *
 * Layout: one hash per bundle, `attest:<bundle>`, field `<version>|<kind>` -> attestation JSON.
 * A bundle has at most a few hundred versions, so one HGETALL answers every question about it.
 * At most one attestation of a kind per version: attesting again replaces it (audited, with
 * the previous one as `before`).
 */
import type { Redis } from 'ioredis';
import { NotFoundError, SystemError, ValidationError } from './errors.ts';
import { systemClock, type Attestation, type Clock } from './model.ts';
import { AuditLog, type AuditContext } from './audit.ts';
import { assertAuditContext, assertSlug } from './inventory.ts';
import { compareSemver } from './registry/semver.ts';

/** An attestation together with the version it is on. */
export interface VersionAttestation extends Attestation {
  version: string;
}

/** Options of {@link AttestationStore}. */
export interface AttestationStoreOptions {
  redis: Redis;
  /** Key prefix (default `ts:`). */
  prefix?: string;
  clock?: Clock;
  /** Audit log to write to; default: one on the same redis, prefix and clock. */
  audit?: AuditLog;
  /**
   * Whether a bundle version exists in the registry. Without it any version is accepted; with
   * it, attesting an unknown version fails with NotFoundError.
   */
  exists?: (bundle: string, version: string) => boolean | Promise<boolean>;
}

/** Orders versions like semver (pre-releases before their release); the registry's ordering, so both agree. */
export const compareVersions = compareSemver;

function requireVersion(version: unknown): asserts version is string {
  if (typeof version !== 'string' || version.length === 0 || version.includes('|')) {
    throw new ValidationError('version is required', [{ pointer: '/version', field: 'version', message: 'is required (and may not contain "|")' }]);
  }
}

/** Attestations on bundle versions. */
export class AttestationStore {
  readonly audit: AuditLog;
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly exists?: (bundle: string, version: string) => boolean | Promise<boolean>;

  constructor(options: AttestationStoreOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'ts:';
    this.clock = options.clock ?? systemClock;
    this.audit = options.audit ?? new AuditLog({ redis: this.redis, prefix: this.prefix, clock: this.clock });
    this.exists = options.exists;
  }

  private key(bundle: string): string {
    return `${this.prefix}attest:${bundle}`;
  }

  /**
   * Records that `by` attests `kind` on `bundle@version` (replacing an earlier attestation of
   * the same kind). Audited as `bundle.attest` on subject `bundle-version` `<bundle>@<version>`.
   */
  async attest(bundle: string, version: string, kind: string, by: string, ctx: AuditContext, note?: string): Promise<Attestation> {
    assertSlug('bundle', bundle);
    requireVersion(version);
    assertSlug('kind', kind);
    if (typeof by !== 'string' || by.length === 0) throw new ValidationError('by is required', [{ pointer: '/by', field: 'by', message: 'is required' }]);
    assertAuditContext(ctx);
    if (this.exists && !(await this.exists(bundle, version))) throw new NotFoundError('bundle version', `${bundle}@${version}`);
    const attestation: Attestation = { kind, by, at: this.clock.now().toISOString(), ...(note ? { note } : {}) };
    const field = `${version}|${kind}`;
    const previous = await this.redis.hget(this.key(bundle), field);
    const result = await this.audit.commit(
      {
        actor: ctx.actor,
        surface: ctx.surface,
        action: 'bundle.attest',
        subject: { type: 'bundle-version', id: `${bundle}@${version}` },
        ...(ctx.request !== undefined ? { request: ctx.request } : {}),
        ...(previous ? { before: JSON.parse(previous) as unknown } : {}),
        after: attestation,
      },
      { ops: [{ op: 'hset', key: this.key(bundle), field, value: JSON.stringify(attestation) }] },
    );
    if (!result.ok) throw new SystemError(`attest ${bundle}@${version}: unexpected guard result ${result.reason}`);
    return attestation;
  }

  /** Withdraws the `kind` attestation of `bundle@version`; NotFoundError when there is none. Audited as `bundle.revoke`. */
  async revoke(bundle: string, version: string, kind: string, ctx: AuditContext, reason?: string): Promise<void> {
    assertSlug('bundle', bundle);
    requireVersion(version);
    assertSlug('kind', kind);
    assertAuditContext(ctx);
    const field = `${version}|${kind}`;
    const previous = await this.redis.hget(this.key(bundle), field);
    if (!previous) throw new NotFoundError(`${kind} attestation on`, `${bundle}@${version}`);
    const result = await this.audit.commit(
      {
        actor: ctx.actor,
        surface: ctx.surface,
        action: 'bundle.revoke',
        subject: { type: 'bundle-version', id: `${bundle}@${version}` },
        ...(ctx.request !== undefined ? { request: ctx.request } : {}),
        ...(reason !== undefined ? { reason } : {}),
        before: JSON.parse(previous) as unknown,
      },
      // The guard makes a concurrent double revoke write one event, not two.
      { guard: { key: this.key(bundle), field, expect: 'present' }, ops: [{ op: 'hdel', key: this.key(bundle), field }] },
    );
    if (!result.ok) throw new NotFoundError(`${kind} attestation on`, `${bundle}@${version}`);
  }

  /** The attestation of `kind` on `bundle@version`, or undefined. */
  async get(bundle: string, version: string, kind: string): Promise<Attestation | undefined> {
    const raw = await this.redis.hget(this.key(bundle), `${version}|${kind}`);
    return raw ? (JSON.parse(raw) as Attestation) : undefined;
  }

  /** Attestations of a bundle (of one version when given), newest version first, then by kind. */
  async list(bundle: string, version?: string): Promise<VersionAttestation[]> {
    const all = await this.all(bundle);
    return all.filter((a) => version === undefined || a.version === version);
  }

  /** Versions of `bundle` carrying a `kind` attestation, newest version first, each with who and when. */
  async versionsWith(bundle: string, kind: string): Promise<VersionAttestation[]> {
    const all = await this.all(bundle);
    return all.filter((a) => a.kind === kind);
  }

  private async all(bundle: string): Promise<VersionAttestation[]> {
    const entries = await this.redis.hgetall(this.key(bundle));
    const out: VersionAttestation[] = [];
    for (const [field, raw] of Object.entries(entries)) {
      const cut = field.lastIndexOf('|');
      out.push({ version: field.slice(0, cut), ...(JSON.parse(raw) as Attestation) });
    }
    return out.sort((a, b) => compareVersions(b.version, a.version) || a.kind.localeCompare(b.kind));
  }
}
