/**
 * The engine's data model, in DESIGN.md's words: bundle, artifact definition, environment,
 * package, request, deployment, audit event. Surface-neutral: nothing here knows Jira or
 * ServiceNow. Raw (unvalidated) input types live next to their parsers; these are the
 * validated shapes every room of the service shares.
 */

/** A JSON Schema document or sub-schema, kept as plain data. */
export type JsonSchema = { [key: string]: unknown };

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A source of the current time; tests pass a fixed one. */
export interface Clock {
  /** The current instant. */
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------------------------------------
// Bundles and artifact definitions

/** One step of a bundle: a folder of IaC run by one provisioner. */
export interface BundleStep {
  /** Folder of the step, relative to the bundle directory. */
  path: string;
  /** `opentofu`, `terraform` or `exec`. Other names are kept but cannot run. */
  provisioner: string;
  /** Skip this step when the package is destroyed (Massdriver's `skip_on_delete`). */
  skip_on_delete?: boolean;
  /** Provisioner-specific settings (for `exec`: the plan/apply/destroy commands). */
  config?: Record<string, unknown>;
}

/** An artifact definition: the typed contract between bundles (contracts/ or ARTIFACT_DEFINITIONS_PATH). */
export interface ArtifactDefinition {
  /** Canonical short name, for example `postgresql-authentication`. */
  name: string;
  /** Every name a `$ref` may use for it: `massdriver/x`, `x`, `org/x`. */
  aliases: string[];
  /** Human label, for example "PostgreSQL Authentication". */
  label?: string;
  /** The JSON Schema an artifact of this type must satisfy (refs resolved). */
  schema: JsonSchema;
  /** JSON pointers (into an artifact) of fields marked `$md.sensitive`. */
  sensitivePointers: string[];
  /** File it was loaded from. */
  file: string;
}

/** A loaded bundle version with every `$ref` resolved. */
export interface Bundle {
  /** Bundle name (`name:` in massdriver.yaml). */
  name: string;
  /** Semantic version (`version:`), `0.0.0` when the file has none (older eras). */
  version: string;
  description?: string;
  /** Directory that holds massdriver.yaml. */
  dir: string;
  /** Path of massdriver.yaml. */
  file: string;
  /** `params` JSON Schema, refs resolved. */
  params: JsonSchema;
  /** `connections` JSON Schema, refs resolved. */
  connections: JsonSchema;
  /** `artifacts` JSON Schema, refs resolved. */
  artifacts: JsonSchema;
  /** `ui` schema (order, widgets), as written. */
  ui: JsonSchema;
  steps: BundleStep[];
  /** `app` block of application bundles, as written. */
  app?: Record<string, unknown>;
  /** Connection name -> canonical artifact definition name it accepts. */
  connectionTypes: Record<string, string>;
  /** Artifact name -> canonical artifact definition name it produces. */
  artifactTypes: Record<string, string>;
  /** The whole document as parsed (unknown top-level keys kept: cost, scanners, ...). */
  raw: Record<string, unknown>;
}

/** An attestation on a bundle version, for example `qa-signed`. */
export interface Attestation {
  kind: string;
  by: string;
  at: string;
  note?: string;
}

// ---------------------------------------------------------------------------------------------
// Inventory records

/** Fields every stored record carries. `revision` starts at 1 and grows by one per write. */
export interface RecordMeta {
  id: string;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface Project extends RecordMeta {
  name: string;
  description?: string;
}

/** Labels an environment carries, read by policy (`production: true`). */
export type Labels = Record<string, string | number | boolean>;

export interface Environment extends RecordMeta {
  /** Owning project id. */
  project: string;
  /** Short name: dev, staging, production. */
  name: string;
  labels: Labels;
}

/** Where a connection of a package points: an artifact of another package. */
export interface ConnectionBinding {
  package: string;
  artifact: string;
}

export type PackageStatus = 'new' | 'provisioning' | 'ready' | 'failed' | 'decommissioning' | 'decommissioned';

/** A bundle instantiated in an environment. */
export interface Package extends RecordMeta {
  project: string;
  environment: string;
  /** Short name inside the environment, for example `orders-db`. */
  name: string;
  bundle: string;
  version: string;
  desiredParams: Record<string, unknown>;
  lastAppliedParams?: Record<string, unknown>;
  /** What the last drift check read from reality (see src/engine/drift-merge.ts); absent until one ran. */
  observedParams?: Record<string, unknown>;
  /** When and through which observe deployment `observedParams` were read, and resource attributes the bundle does not model. */
  observed?: ObservationMeta;
  /** The package's drift: the last check's findings and the decisions taken on them. */
  drift?: DriftState;
  connections: Record<string, ConnectionBinding>;
  /** Artifact name -> artifact data, as produced by the last good apply (sensitive fields included; never rendered). */
  artifacts: Record<string, Record<string, unknown>>;
  status: PackageStatus;
  /** Monthly cost estimate in USD. */
  costMonthly?: number;
  lastDeployment?: string;
}

/** When reality was read for a package, by which observe deployment, and what it saw beyond the params. */
export interface ObservationMeta {
  at: string;
  deployment: string;
  /** Resource address -> attribute -> observed value, for what no param models ("reality only"). */
  attributes: Record<string, Record<string, unknown>>;
}

/** How one field compares across last applied, desired and observed. */
export type DriftClass = 'in_sync' | 'drifted' | 'both_sides' | 'reality_only';

/** What is proposed for one field: merge reality back, plan it back, ask a person, or nothing. */
export type DriftProposal = 'adopt' | 'revert' | 'ask' | 'none';

/** Who answers for a field: ops (fixed in the form overlay or named by policy) or the developers. */
export type FieldOwner = 'ops' | 'dev';

/** One field (a param, or a resource attribute for reality-only findings) of a drift check. */
export interface DriftFinding {
  /** Param name, or `<resource address>.<attribute>` for reality-only findings. */
  field: string;
  /** Human label (the form's). */
  label: string;
  class: DriftClass;
  owner: FieldOwner;
  proposal: DriftProposal;
  lastApplied?: unknown;
  desired?: unknown;
  observed?: unknown;
  /** When reality was first seen differing from what was applied (kept across checks). */
  since?: string;
  /** Set while a person's `ignore until` holds: nothing is proposed until then. */
  ignoredUntil?: string;
  /** A `$md.sensitive` param: its values are stored and shown masked, and it is never adopted. */
  sensitive?: boolean;
}

/** A person's decision on one field, or one policy took automatically. */
export interface DriftDecision {
  field: string;
  decision: 'adopt' | 'revert' | 'ignore';
  by: string;
  at: string;
  /** For ignore: until when. */
  until?: string;
  /** For revert: the update request filed. */
  request?: string;
  /** For adopt: what was applied before and what reality held. */
  from?: unknown;
  to?: unknown;
}

/** The drift of a package as the last check found it. */
export interface DriftState {
  checkedAt: string;
  /** Fingerprint of the open findings: the same drift seen again has the same one (nothing is posted twice). */
  fingerprint: string;
  findings: DriftFinding[];
  decisions: DriftDecision[];
  /**
   * When the current drift episode began (the first check that found open drift after the
   * package was in sync); absent while in sync. Names the episode's ticket when policy files
   * drift as a new ticket.
   */
  episode?: string;
  /** Set when the last check could not run: which step, and why. */
  error?: { step?: string; message: string; at: string };
}

// ---------------------------------------------------------------------------------------------
// Requests

export type RequestKind = 'provision' | 'update' | 'promote' | 'decommission' | 'query';

export type RequestState =
  | 'received'
  | 'invalid'
  | 'validated'
  | 'planned'
  | 'awaiting_approval'
  | 'approved'
  | 'scheduled'
  | 'applying'
  | 'applied'
  | 'failed'
  | 'rejected'
  | 'cancelled'
  | 'superseded';

/** The surfaces a request or audit event can come from. */
export type SurfaceName = 'jira' | 'servicenow' | 'http' | 'cli' | 'engine' | 'reality';

/** Where a request came from: `ref` is the ticket key / sys_id, `url` a link a person can open. */
export interface Origin {
  surface: SurfaceName;
  ref: string;
  url?: string;
}

/** Who did something. `id` is the surface's account id (Jira accountId, ServiceNow user sys_id, CLI user). */
export interface Actor {
  id: string;
  displayName?: string;
  email?: string;
  /**
   * The directory person this surface account belongs to, when the directory knows them (set by
   * the workflow, never by a surface): separation of duties compares people, not accounts.
   */
  person?: string;
}

export type DecisionOutcome = 'allow' | 'deny' | 'needs_approval' | 'warn';

/** One policy decision shown on a request and in the ticket. */
export interface PolicyDecision {
  rule: string;
  outcome: DecisionOutcome;
  reason: string;
  /** For needs_approval: which groups and how many approvers. */
  approvers?: { groups: string[]; count: number };
}

/** One counted approval, bound to a plan hash. */
export interface Approval {
  by: Actor;
  surface: SurfaceName;
  planHash: string;
  at: string;
  expiresAt?: string;
  groups: string[];
}

/** Summary of a plan, derived from Terraform/OpenTofu plan JSON. */
export interface PlanSummary {
  add: number;
  change: number;
  destroy: number;
  replace: number;
  /** Resource changes, no-ops left out. */
  resources: PlanResourceChange[];
  /** True when any change deletes or replaces a resource. */
  destructive: boolean;
}

export interface PlanResourceChange {
  address: string;
  type: string;
  name: string;
  /** Terraform's action list, for example `["create"]`, `["delete","create"]`. */
  actions: string[];
  /** `add` | `change` | `destroy` | `replace` | `read` */
  action: 'add' | 'change' | 'destroy' | 'replace' | 'read';
  destructive: boolean;
}

export interface RequestPlan {
  deploymentId: string;
  hash: string;
  summary: PlanSummary;
  costMonthlyBefore?: number;
  costMonthlyAfter?: number;
}

export interface StateChange {
  from: RequestState | null;
  to: RequestState;
  at: string;
  by?: string;
  reason?: string;
}

export interface Request extends RecordMeta {
  kind: RequestKind;
  state: RequestState;
  /** Content revision: grows when the person edits the request (a new plan supersedes the old). */
  contentRevision: number;
  actor: Actor;
  origin: Origin;
  project: string;
  environment: string;
  bundle: string;
  version?: string;
  /** Target package id (existing for update/promote/decommission; to be created for provision). */
  package?: string;
  /** Values as submitted by the surface (before mapping); kept so nothing is lost. */
  submitted?: Record<string, unknown>;
  /** Typed params after mapping and validation. */
  params?: Record<string, unknown>;
  /** For query requests: the query name and its arguments. */
  query?: { name: string; args: Record<string, unknown> };
  issues?: { pointer: string; field?: string; message: string }[];
  plan?: RequestPlan;
  decisions: PolicyDecision[];
  approvals: Approval[];
  /** ISO instant the request is scheduled to apply (change window). */
  scheduledFor?: string;
  deployment?: string;
  error?: { step?: string; message: string; excerpt?: string };
  history: StateChange[];
}

// ---------------------------------------------------------------------------------------------
// Deployments

export type DeploymentAction = 'plan' | 'apply' | 'destroy' | 'observe';
export type DeploymentStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** One structured log line of a step, secrets redacted. */
export interface StepLogLine {
  at: string;
  stream: 'stdout' | 'stderr' | 'engine';
  line: string;
}

export interface DeploymentStep {
  path: string;
  provisioner: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';
  startedAt?: string;
  finishedAt?: string;
  log: StepLogLine[];
  error?: string;
}

export interface Deployment extends RecordMeta {
  package: string;
  request?: string;
  action: DeploymentAction;
  status: DeploymentStatus;
  steps: DeploymentStep[];
  plan?: PlanSummary;
  planHash?: string;
  /** Fencing token of the package lock held while running. */
  fencingToken?: number;
  startedAt?: string;
  finishedAt?: string;
  error?: { step?: string; message: string; excerpt?: string };
  /**
   * Its worker stopped while it ran (the lock expired; marked failed by the stale sweep): what it
   * did is unknown, so an apply is planned again rather than reported as failed.
   */
  abandoned?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Audit

/** One append-only audit record, chained to the previous one by `prevHash`. */
export interface AuditEvent {
  /** 1-based position in the log. */
  seq: number;
  at: string;
  actor: string;
  surface: SurfaceName;
  /** Verb, for example `package.create`, `request.transition`, `bundle.attest`. */
  action: string;
  subject: { type: string; id: string };
  request?: string;
  before?: unknown;
  after?: unknown;
  /** Why, in plain words (for example the reason given with a request transition). */
  reason?: string;
  prevHash: string;
  hash: string;
}
