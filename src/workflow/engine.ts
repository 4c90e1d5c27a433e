import { BundleRegistry } from '../engine/registry/index.ts';
import { maskPackage, maskRequest } from './secrets.ts';
import type { Authorizer, Principal } from './authorize.ts';
import type { Inventory, ListFilters, ListOptions } from '../engine/inventory.ts';
import type { AttestationStore, VersionAttestation } from '../engine/attestations.ts';
import type { RequestService } from '../engine/requests.ts';
import type { FreezeStore } from './freeze.ts';
import type { StackStore } from './stack-store.ts';
import type { AuditContext, AuditListOptions, AuditVerification } from '../engine/audit.ts';
import { ValidationError, type FieldIssue } from '../engine/errors.ts';
import type {
  Attestation,
  AuditEvent,
  Bundle,
  ConnectionBinding,
  Environment,
  Labels,
  Package,
  Project,
  Request,
} from '../engine/model.ts';

/** What the engine needs; built once by `openEngine` (bootstrap.ts) or by a test. */
export interface EngineDeps {
  registry: BundleRegistry;
  inventory: Inventory;
  attestations: AttestationStore;
  requests: RequestService;
  /** Environment freezes (see freeze.ts); absent: nothing is ever frozen. */
  freezes?: FreezeStore;
  /** Stacks and their leases (see stacks.ts); absent: none. */
  stacks?: StackStore;
  /** Monthly cost estimate of a bundle's params; absent means no estimate. */
  estimateCost?: (bundle: Bundle, params: Record<string, unknown>) => number | undefined;
}

/** A bundle as listed: its name and every version the registry holds, newest first. */
export interface BundleSummary {
  name: string;
  description?: string;
  versions: string[];
}

/** Input of {@link Engine.createPackage}. */
export interface CreatePackageInput {
  project: string;
  /** Environment name inside the project (`staging`) or its id (`checkout-staging`). */
  environment: string;
  name: string;
  bundle: string;
  /** Latest when omitted. */
  version?: string;
  params: Record<string, unknown>;
  connections?: Record<string, ConnectionBinding>;
  /** Not running yet (a request's package before its first apply): no cost until applied. */
  pending?: boolean;
}

/**
 * The engine's calls, shared by every surface: the HTTP API, the CLI and the ticket surfaces
 * call these and nothing below them. Knows nothing of Jira or ServiceNow.
 */
export class Engine {
  readonly registry: BundleRegistry;
  readonly inventory: Inventory;
  readonly attestations: AttestationStore;
  readonly requests: RequestService;
  /** Environment freezes, when this engine keeps them. */
  readonly freezes?: FreezeStore;
  /** Stacks and their leases, when this engine keeps them. */
  readonly stacks?: StackStore;
  private readonly estimateCost?: EngineDeps['estimateCost'];

  constructor(deps: EngineDeps) {
    this.registry = deps.registry;
    this.inventory = deps.inventory;
    this.attestations = deps.attestations;
    this.requests = deps.requests;
    if (deps.freezes) this.freezes = deps.freezes;
    if (deps.stacks) this.stacks = deps.stacks;
    this.estimateCost = deps.estimateCost;
  }

  // ---------------------------------------------------------------------------------------------
  // Bundles

  /** Every bundle with its versions. */
  listBundles(): BundleSummary[] {
    const byName = new Map<string, BundleSummary>();
    for (const b of this.registry.list()) {
      if (!byName.has(b.name)) byName.set(b.name, { name: b.name, description: b.description, versions: this.registry.versions(b.name) });
    }
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** One bundle version (latest when `version` is omitted). */
  getBundle(name: string, version?: string): Bundle {
    return this.registry.get(name, version);
  }

  /** Records an attestation (for example `qa-signed`) on a bundle version; audited. */
  async attest(bundle: string, version: string, kind: string, by: string, ctx: AuditContext, note?: string): Promise<Attestation> {
    this.registry.get(bundle, version);
    return this.attestations.attest(bundle, version, kind, by, ctx, note);
  }

  /** Attestations of a bundle version. */
  async listAttestations(bundle: string, version?: string): Promise<VersionAttestation[]> {
    if (version) this.registry.get(bundle, version);
    else this.registry.versions(bundle).length || this.registry.get(bundle);
    return this.attestations.list(bundle, version);
  }

  // ---------------------------------------------------------------------------------------------
  // Inventory

  createProject(input: { id?: string; name?: string; description?: string }, ctx: AuditContext): Promise<Project> {
    const name = input.name ?? input.id ?? '';
    return this.inventory.createProject({ name, ...(input.id ? { id: input.id } : {}), ...(input.description ? { description: input.description } : {}) }, ctx);
  }

  listProjects(): Promise<Project[]> {
    return this.inventory.list('project');
  }

  createEnvironment(input: { project: string; name: string; labels?: Labels }, ctx: AuditContext): Promise<Environment> {
    return this.inventory.createEnvironment(input, ctx);
  }

  listEnvironments(filter: ListFilters['environment'] = {}): Promise<Environment[]> {
    return this.inventory.list('environment', filter);
  }

  /** Resolves an environment given by name inside a project or by id. */
  async environment(project: string, environment: string): Promise<Environment> {
    const id = environment.startsWith(`${project}-`) ? environment : `${project}-${environment}`;
    return this.inventory.get('environment', id);
  }

  /**
   * Creates a package (status `new`) after validating its params against the bundle's schema
   * and each connection against the artifact definition it declares. Nothing is written when
   * any check fails.
   */
  async createPackage(input: CreatePackageInput, ctx: AuditContext): Promise<Package> {
    const bundle = this.registry.get(input.bundle, input.version);
    const env = await this.environment(input.project, input.environment);
    const params = input.params ?? {};
    const issues = this.registry.validateParams(bundle, params).map((i) => ({ ...i, pointer: `/params${i.pointer}` }));
    issues.push(...(await this.connectionIssues(bundle, input.connections ?? {})));
    if (issues.length) throw new ValidationError(`params of ${bundle.name}@${bundle.version} are invalid`, issues);
    const cost = input.pending ? undefined : this.estimateCost?.(bundle, params);
    return this.inventory.createPackage(
      {
        environment: env.id,
        name: input.name,
        bundle: bundle.name,
        version: bundle.version,
        desiredParams: params,
        connections: input.connections ?? {},
        ...(cost !== undefined ? { costMonthly: cost } : {}),
      },
      ctx,
    );
  }

  /** Changes a package's desired params, based on the revision the caller saw (409 when stale). */
  async updatePackageParams(id: string, revision: number, params: Record<string, unknown>, ctx: AuditContext): Promise<Package> {
    const pkg = await this.inventory.get('package', id);
    const bundle = this.registry.get(pkg.bundle, pkg.version);
    const issues = this.registry.validateParams(bundle, params).map((i) => ({ ...i, pointer: `/params${i.pointer}` }));
    if (issues.length) throw new ValidationError(`params of ${bundle.name}@${bundle.version} are invalid`, issues);
    const cost = this.estimateCost?.(bundle, params);
    return this.inventory.update(
      'package',
      id,
      revision,
      (draft) => {
        draft.desiredParams = params;
        if (cost !== undefined) draft.costMonthly = cost;
      },
      ctx,
      { action: 'package.params' },
    );
  }

  private async connectionIssues(bundle: Bundle, connections: Record<string, ConnectionBinding>): Promise<FieldIssue[]> {
    const issues: FieldIssue[] = [];
    for (const [name, binding] of Object.entries(connections)) {
      const pointer = `/connections/${name}`;
      if (!bundle.connectionTypes[name]) {
        issues.push({ pointer, field: name, message: `is not a connection of ${bundle.name}` });
        continue;
      }
      const source = await this.inventory.find('package', binding.package);
      if (!source) {
        issues.push({ pointer, field: name, message: `unknown package "${binding.package}"` });
        continue;
      }
      const sourceBundle = this.registry.get(source.bundle, source.version);
      const produced = sourceBundle.artifactTypes[binding.artifact];
      if (!produced) {
        issues.push({ pointer, field: name, message: `${source.bundle} produces no artifact "${binding.artifact}"` });
        continue;
      }
      try {
        this.registry.checkConnection(bundle, name, produced);
      } catch (err) {
        if (err instanceof ValidationError) issues.push(...err.issues.map((i) => ({ ...i, pointer })));
        else throw err;
      }
    }
    return issues;
  }

  /** A package with its sensitive artifact fields masked, unless `reveal` (audited by the caller). */
  async getPackage(id: string, opts: { reveal?: boolean } = {}): Promise<Package> {
    const pkg = await this.inventory.get('package', id);
    return opts.reveal ? pkg : this.maskPackage(pkg);
  }

  /**
   * A package with its secrets, for a person allowed `secrets.reveal` (the admin role); anyone
   * else is refused, and the refusal audited, by `authorizer`. The reading is audited as
   * `package.reveal`: who (their account and person) read which package's artifacts, never the values.
   */
  async revealPackage(id: string, by: Principal, authorizer: Pick<Authorizer, 'require'>): Promise<Package> {
    await authorizer.require(by, 'secrets.reveal', { type: 'package', id });
    const pkg = await this.inventory.get('package', id);
    const after = { person: by.person.id, artifacts: Object.keys(pkg.artifacts) };
    await this.inventory.audit.append({ actor: by.account, surface: by.surface, action: 'package.reveal', subject: { type: 'package', id }, after });
    return pkg;
  }

  /** Packages, masked. */
  async listPackages(filter: ListFilters['package'] = {}, options: ListOptions = {}): Promise<Package[]> {
    return (await this.inventory.list('package', filter, options)).map((p) => this.maskPackage(p));
  }

  /** Replaces every `$md.sensitive` param and artifact field by `[sensitive]`; unknown artifact types are masked whole. */
  maskPackage(pkg: Package): Package {
    return maskPackage(this.registry, pkg);
  }

  // ---------------------------------------------------------------------------------------------
  // Requests and audit

  /** Requests, their sensitive params (and the answers that carried them) masked. */
  async listRequests(filter: ListFilters['request'] = {}, options: ListOptions = {}): Promise<Request[]> {
    return (await this.requests.list(filter, options)).map((r) => maskRequest(this.registry, r));
  }

  getRequest(id: string): Promise<Request> {
    return this.requests.get(id);
  }

  listAudit(options: AuditListOptions = {}): Promise<AuditEvent[]> {
    return this.inventory.audit.list(options);
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.inventory.audit.verify();
  }
}
