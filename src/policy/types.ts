/**
 * The typed, validated policy (what `loadPolicy` returns) and the ports policy evaluation talks
 * through. The YAML shape is described by policy-schema.json; these types are its normalized
 * form: durations in milliseconds, blackouts as instants, local times split into hour/minute.
 */
import type { Actor, Attestation, Clock, Labels, PlanSummary, RequestKind } from '../engine/model.ts';

/** ISO weekday: 1 = Monday ... 7 = Sunday (luxon's numbering). */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** A wall-clock time of day. `hour` may be 24 (with minute 0) for an end at midnight. */
export interface LocalTime {
  hour: number;
  minute: number;
}

/** One weekly window, for example Tue-Thu 10:00-16:00. An end at or before the start means the window runs past midnight. */
export interface WeeklyWindow {
  days: Weekday[];
  start: LocalTime;
  end: LocalTime;
}

/** A period during which nothing may be applied, whatever the weekly windows say. */
export interface Blackout {
  /** Plain words shown in the ticket, for example "Black Friday freeze". */
  reason: string;
  start: Date;
  /** Exclusive. */
  end: Date;
  /** Where it came from: `policy` or the name of a {@link WindowSource}. */
  source: string;
}

/** The change-window part of an environment's policy. */
export interface WindowPolicy {
  /** IANA zone the weekly windows are read in. */
  timeZone: string;
  /** Empty means "any time" (only blackouts restrict it). */
  weekly: WeeklyWindow[];
  blackouts: Blackout[];
}

/** N distinct approvers from any of the groups. */
export interface ApproverRequirement {
  groups: string[];
  count: number;
}

/** Who may open a request in an environment. */
export type Requesters = 'anyone' | { groups: string[]; users: string[] };

/** Fields of the request a `field` condition can read. */
export type RequestField = 'bundle' | 'version' | 'kind' | 'environment' | 'destructive' | 'cost_delta' | 'emergency';

/** Comparison operators of a subject condition. */
export type Operator = 'equals' | 'not_equals' | 'in' | 'not_in' | 'lt' | 'lte' | 'gt' | 'gte' | 'exists' | 'matches';

/** A declarative check over the request, as parsed from a rule's `when` / `require`. */
export type Condition =
  | { kind: 'param' | 'label' | 'field'; path: string; op: Operator; value: unknown }
  | { kind: 'attestation'; attestation: string }
  | { kind: 'all' | 'any'; of: Condition[] }
  | { kind: 'not'; of: Condition };

/** A rule over the request: when `when` holds (or always), `require` must hold. */
export interface PolicyRule {
  id: string;
  description?: string;
  when?: Condition;
  require: Condition;
  allowReason?: string;
  denyReason?: string;
  /** What a failed `require` means: a denial (default), a warning, or an extra approval. */
  onFail: 'deny' | 'warn' | 'needs_approval';
  /** For `needs_approval`. */
  approvers?: ApproverRequirement;
}

/** The policy for the environments one `environments[]` entry matches. */
export interface EnvironmentPolicy {
  /** Name of the entry (the environment's name when `match` is absent). */
  name: string;
  description?: string;
  /** Matches when the environment's name is in `names` (if given) and it carries every label (if given). */
  match: { names?: string[]; labels?: Labels };
  requesters: Requesters;
  /** Request kinds allowed; undefined = all. */
  kinds?: RequestKind[];
  /** null = no approval needed. */
  approvals: ApproverRequirement | null;
  /** How long an approval stays valid here. */
  approvalTtlMs: number;
  /** undefined = changes may be applied at any time. */
  windows?: WindowPolicy;
  emergency?: { allowed: boolean; approvals?: ApproverRequirement };
  /**
   * Decommissions here: a package whose artifacts another package consumes is refused
   * (`withConsumers: 'deny'`, the default) unless this says `allow` explicitly.
   */
  decommission?: { withConsumers: 'deny' | 'allow' };
  /** Environments of this kind are leased (preview environments): see lease.ts. */
  lease?: LeasePolicy;
  rules: PolicyRule[];
}

/** A loaded, validated policy file. */
export interface Policy {
  version: 1;
  /** File (or label) it was read from, for messages. */
  file: string;
  /** Default approval lifetime (`approval_ttl`, 72h when absent). */
  approvalTtlMs: number;
  /** Default zone for windows and local-date blackouts. */
  timeZone: string;
  /** Rules for every environment, evaluated before each environment's own. */
  rules: PolicyRule[];
  /** First match wins. */
  environments: EnvironmentPolicy[];
  /** How drift is checked and decided (`drift:`); absent: checks on demand only, every field asks. */
  drift?: DriftPolicy;
}

/** What policy does on its own with a field reality changed: merge it back, plan it back, or ask. */
export type DriftChoice = 'adopt' | 'revert' | 'ask';

/** The drift part of one environment's policy (first `drift.environments[]` entry that matches). */
export interface DriftEnvironmentPolicy {
  match: { names?: string[]; labels?: Labels };
  /** Cadence of the scheduled check; undefined: on demand only. */
  checkEveryMs?: number;
  /** For fields developers own. */
  dev: DriftChoice;
  /** For fields ops own (fixed in the form overlay, or listed in `ops_fields`). */
  ops: DriftChoice;
  /** Per field (a param name, or `<resource address>.<attribute>`), before the owner's choice. */
  fields: Record<string, DriftChoice>;
  /**
   * Where drift is written: `origin`, the ticket that created or last changed the package; `new`,
   * a new ticket per drift episode in the project the surface's configuration names for drift.
   */
  ticket: DriftTicket;
}

/** Where a drift status is written (see {@link DriftEnvironmentPolicy.ticket}). */
export type DriftTicket = 'origin' | 'new';

/** The `drift:` section of the policy file. */
export interface DriftPolicy {
  /** Params ops own besides those the form overlay fixes. */
  opsFields: string[];
  environments: DriftEnvironmentPolicy[];
}

// ---------------------------------------------------------------------------------------------
// Ports

/** A person as the directory knows them. */
export interface DirectoryUser {
  id: string;
  displayName: string;
  active: boolean;
  groups: string[];
}

/**
 * Answers "who is this, are they active, which groups are they in". Implemented by the Jira and
 * ServiceNow surface adapters (and {@link StaticDirectory} for config-defined users).
 * Returns null for an unknown id; callers must refuse, not assume.
 */
export interface Directory {
  getUser(id: string): Promise<DirectoryUser | null>;
}

/** An environment as policy sees it: its name and labels. */
export interface EnvironmentRef {
  name: string;
  labels: Labels;
}

/** What a {@link WindowSource} adds for one environment and time range. */
export interface ExtraWindows {
  /** Extra openings (absolute instants), added to the weekly windows. */
  windows?: { start: Date; end: Date }[];
  blackouts?: Blackout[];
}

/**
 * A pluggable provider of extra windows and blackouts (for example a ServiceNow blackout
 * schedule). Asked for everything overlapping [from, to).
 */
export interface WindowSource {
  readonly name: string;
  load(environment: EnvironmentRef, from: Date, to: Date): Promise<ExtraWindows>;
}

/** Everything policy evaluation reads about a request. Surface-neutral. */
export interface PolicyInput {
  kind: RequestKind;
  actor: Actor;
  environment: EnvironmentRef;
  bundle: string;
  version?: string;
  params: Record<string, unknown>;
  /** Human labels of params by path (`expected_size_gib` -> "Expected data size (GiB)"), for reasons. */
  paramLabels?: Record<string, string>;
  /** Current attestations of the version (revoked ones left out by the caller). */
  attestations: Attestation[];
  plan?: Pick<PlanSummary, 'destructive'> & Partial<PlanSummary>;
  /** Monthly cost change in USD (after - before). */
  costDelta?: number;
  /** The requester marked this an emergency (may apply outside the window with extra approvals). */
  emergency?: boolean;
}

/** What evaluation needs from outside. */
export interface PolicyDeps {
  directory: Directory;
  clock: Clock;
  windowSources?: WindowSource[];
}

/**
 * How long an environment of one kind lives (a preview environment): granted for `defaultMs`,
 * extended up to `maxMs` in all from when it was granted, reminders `remindBeforeMs` before it
 * expires (largest first).
 */
export interface LeasePolicy {
  defaultMs: number;
  maxMs: number;
  remindBeforeMs: number[];
}
