/**
 * In-memory state of the Jira sandbox and the rules that change it: issues, comments, fields,
 * contexts, options, screens, workflows, users, groups and JSM approvals. Every change that Jira
 * would announce by webhook is reported to the listener given to the constructor, so the server
 * can render and send it. Errors are {@link JiraApiError}s carrying Jira's error shape.
 */
import type { Clock } from '../../src/engine/model.ts';
import { systemClock } from '../../src/engine/model.ts';
import { adfProblem, adfStoredLength, adfToText, JIRA_TEXT_LIMIT, NOT_ADF_MESSAGE, TOO_LONG_MESSAGE } from './adf.ts';
import { matchesJql, parseJql, type JqlIssueView, type JqlQuery } from './jql.ts';

/** The custom field type of JSM's Approvals field. */
export const APPROVALS_FIELD_TYPE = 'com.atlassian.servicedesk.approvals-plugin:sd-approvals';

/** Prefix of Jira's built-in custom field type keys. */
export const CUSTOM_FIELD_TYPE_PREFIX = 'com.atlassian.jira.plugin.system.customfieldtypes:';

/** A REST failure in Jira's own shape: `{ errorMessages, errors }` (JSM routes reshape it). */
export class JiraApiError extends Error {
  readonly status: number;
  readonly errorMessages: string[];
  readonly errors: Record<string, string>;
  constructor(status: number, errorMessages: string[], errors: Record<string, string> = {}) {
    super(errorMessages[0] ?? Object.values(errors)[0] ?? `HTTP ${status}`);
    this.status = status;
    this.errorMessages = errorMessages;
    this.errors = errors;
  }
}

/** Status categories as Jira numbers them. */
export type StatusCategoryKey = 'new' | 'indeterminate' | 'done';

/** A user of the sandbox site. */
export interface SandboxUser {
  accountId: string;
  displayName: string;
  emailAddress?: string;
  /** API token accepted with `emailAddress` in Basic auth. Never rendered. */
  apiToken?: string;
  active: boolean;
  groups: string[];
  timeZone: string;
  accountType: 'atlassian' | 'app' | 'customer';
}

/** A group (membership lives on the users). */
export interface SandboxGroup {
  name: string;
  groupId: string;
}

/** A workflow status. */
export interface SandboxStatus {
  id: string;
  name: string;
  category: StatusCategoryKey;
  description: string;
}

/** A "field required" validator of a transition: fails unless the issue has a value in `field`. */
export interface SandboxValidator {
  field: string;
  /** Jira's answer when it fails. */
  message: string;
}

/** A workflow transition; empty `from` means global (available from every status). */
export interface SandboxTransition {
  id: string;
  name: string;
  from: string[];
  to: string;
  /** The transition screen carries the Resolution field, required or not; absent: no screen. */
  resolution?: 'required' | 'optional';
  /** Validators run before the transition; a failing one answers 400 and moves nothing. */
  validators?: SandboxValidator[];
}

/** A resolution (Done, Won't Do ...). */
export interface SandboxResolution {
  id: string;
  name: string;
  description: string;
}

/** A workflow: initial status and transitions, by status id. */
export interface SandboxWorkflow {
  name: string;
  initialStatusId: string;
  transitions: SandboxTransition[];
}

/** An issue type. */
export interface SandboxIssueType {
  id: string;
  name: string;
  description: string;
  subtask: boolean;
}

/** JSM approval set-up of a project: entering `statusId` opens an approval. */
export interface SandboxApprovalConfig {
  name: string;
  statusId: string;
  approverAccountIds: string[];
  approverGroup?: string;
  approvedStatusId: string;
  declinedStatusId: string;
  /** Approvals needed to approve (JSM's "approved when N approvers approve"); one decline declines. */
  required: number;
  /** Leave the reporter out of the approvers (default); false lets them approve their own request. */
  excludeReporter: boolean;
}

/** A project's JSM approval, as seeded: status names, approvers and how many must approve. */
export interface SandboxApprovalSeed {
  name?: string;
  status: string;
  approvers?: string[];
  approverGroup?: string;
  approved: string;
  declined: string;
  /** Approvals needed (default 1). */
  required?: number;
  /** Leave the reporter out of the approvers (default true). */
  excludeReporter?: boolean;
}

/** A project. */
export interface SandboxProject {
  id: string;
  key: string;
  name: string;
  projectTypeKey: 'software' | 'service_desk' | 'business';
  issueTypeIds: string[];
  workflow: SandboxWorkflow;
  leadAccountId?: string;
  approval?: SandboxApprovalConfig;
  /** The project's issue type screen scheme; none for a team-managed project. */
  issueTypeScreenSchemeId?: string;
  /** The project's issue type scheme (its issue types are the scheme's); none for a team-managed project. */
  issueTypeSchemeId?: string;
}

/** One option of a select-type field context. */
export interface SandboxOption {
  id: string;
  value: string;
  disabled: boolean;
  optionId?: string;
}

/** A custom field context: which projects and issue types it applies to, and its options. */
export interface SandboxFieldContext {
  id: string;
  name: string;
  description: string;
  projectIds: string[];
  issueTypeIds: string[];
  options: SandboxOption[];
}

/** The schema Jira reports for a field. */
export interface SandboxFieldSchema {
  type: string;
  items?: string;
  system?: string;
  custom?: string;
  customId?: number;
}

/** A system or custom field. */
export interface SandboxField {
  id: string;
  key: string;
  name: string;
  custom: boolean;
  description?: string;
  schema: SandboxFieldSchema;
  searcherKey?: string;
  orderable: boolean;
  navigable: boolean;
  searchable: boolean;
  contexts: SandboxFieldContext[];
}

/** A screen tab and the field ids on it. */
export interface SandboxScreenTab {
  id: number;
  name: string;
  fieldIds: string[];
}

/** A screen. */
export interface SandboxScreen {
  id: number;
  name: string;
  description: string;
  tabs: SandboxScreenTab[];
}

/** A screen scheme: which screen an issue shows when created, edited and viewed (`default` otherwise). */
export interface SandboxScreenScheme {
  id: number;
  name: string;
  description: string;
  screens: { default: number; create?: number; edit?: number; view?: number };
}

/**
 * An issue type scheme: the issue types its projects offer. The default one holds every issue
 * type (a new issue type is added to it, as Jira Cloud does); a classic project seeded without
 * one gets a scheme of its own.
 */
export interface SandboxIssueTypeScheme {
  id: string;
  name: string;
  description: string;
  isDefault: boolean;
  issueTypeIds: string[];
}

/** An issue type screen scheme: issue type id (or `default`) → screen scheme id. */
export interface SandboxIssueTypeScreenScheme {
  id: string;
  name: string;
  description: string;
  mappings: Record<string, number>;
}

/** A comment; `body` is the ADF document as stored. */
export interface SandboxComment {
  id: string;
  authorId: string;
  updateAuthorId: string;
  body: unknown;
  created: Date;
  updated: Date;
  visibility?: { type: string; value?: string; identifier?: string };
  properties: Array<{ key: string; value: unknown }>;
}

/** An attachment with its bytes. */
export interface SandboxAttachment {
  id: string;
  filename: string;
  mimeType: string;
  content: Buffer;
  authorId: string;
  created: Date;
}

/** One changed field in a changelog entry, as Jira writes it. */
export interface ChangeItem {
  field: string;
  fieldtype: 'jira' | 'custom';
  fieldId: string;
  from: string | null;
  fromString: string | null;
  to: string | null;
  toString: string | null;
}

/** One changelog entry (a history record of the issue). */
export interface SandboxChangelog {
  id: string;
  authorId: string;
  created: Date;
  items: ChangeItem[];
}

/** A JSM approval on an issue. */
export interface SandboxApproval {
  id: string;
  name: string;
  approvers: Array<{ accountId: string; decision: 'approved' | 'declined' | 'pending' }>;
  finalDecision: 'approved' | 'declined' | 'pending';
  created: Date;
  completed?: Date;
  config: SandboxApprovalConfig;
}

/** An issue. Custom field values are stored normalized (see {@link JiraSandboxState.setFieldValue}). */
export interface SandboxIssue {
  id: string;
  key: string;
  projectId: string;
  issueTypeId: string;
  statusId: string;
  summary: string;
  description: unknown;
  labels: string[];
  reporterId: string;
  creatorId: string;
  assigneeId?: string;
  created: Date;
  updated: Date;
  statusCategoryChanged: Date;
  customFields: Record<string, unknown>;
  comments: SandboxComment[];
  attachments: SandboxAttachment[];
  properties: Map<string, unknown>;
  changelog: SandboxChangelog[];
  approvals: SandboxApproval[];
  /** Set by a transition screen; cleared when the issue leaves the done category. */
  resolutionId?: string;
}

/** A JSM request type and its visible fields. */
export interface SandboxRequestType {
  id: string;
  name: string;
  description: string;
  helpText: string;
  issueTypeId: string;
  serviceDeskId: string;
  /** Fields shown on the portal; `'screen'` means every field on the project's screens. */
  fields: Array<{ fieldId: string; required: boolean }> | 'screen';
}

/** A JSM service desk (one per service project). */
export interface SandboxServiceDesk {
  id: string;
  projectId: string;
  requestTypes: SandboxRequestType[];
}

/** What changed, reported to the state's listener (the server turns it into webhooks). */
export type StateEvent =
  | { type: 'issue_created'; issue: SandboxIssue; actorId: string; changelog: SandboxChangelog }
  | {
      type: 'issue_updated';
      issue: SandboxIssue;
      actorId: string;
      /** Jira's `issue_event_type_name`: issue_updated, issue_generic (status change), issue_commented... */
      eventTypeName: string;
      changelog?: SandboxChangelog;
      comment?: SandboxComment;
    }
  | { type: 'comment_created' | 'comment_updated'; issue: SandboxIssue; comment: SandboxComment; actorId: string };

/** Seed data; everything is optional and additive. Names refer to statuses, issue types, users. */
export interface SandboxSeed {
  users?: Array<{
    accountId: string;
    displayName: string;
    email?: string;
    apiToken?: string;
    active?: boolean;
    groups?: string[];
    timeZone?: string;
    accountType?: SandboxUser['accountType'];
  }>;
  groups?: string[];
  statuses?: Array<{ id?: string; name: string; category: StatusCategoryKey; description?: string }>;
  issueTypes?: Array<{ id?: string; name: string; description?: string; subtask?: boolean }>;
  /** Workflows by name; transitions refer to status names; no `from` means global. */
  workflows?: Record<
    string,
    {
      initial: string;
      transitions: Array<{ id?: string; name: string; from?: string[]; to: string; resolution?: SandboxTransition['resolution']; validators?: SandboxValidator[] }>;
    }
  >;
  projects?: Array<{
    id?: string;
    key: string;
    name: string;
    type?: SandboxProject['projectTypeKey'];
    /** Issue type names. */
    issueTypes: string[];
    /** Workflow name (from `workflows`). */
    workflow: string;
    lead?: string;
    /** Issue type screen scheme name; default: the Default one; `null`: none (team-managed). */
    issueTypeScreenScheme?: string | null;
    /**
     * Issue type scheme name: projects naming the same one share it (its issue types are the
     * union of theirs); default: a scheme of the project's own ("KEY: Issue Type Scheme").
     */
    issueTypeScheme?: string;
    /** JSM approvals: entering `status` opens an approval answered by `approvers` / `approverGroup`. */
    approval?: SandboxApprovalSeed;
    /** Makes the project a JSM service desk with these request types. */
    serviceDesk?: {
      id?: string;
      requestTypes: Array<{
        id?: string;
        name: string;
        issueType: string;
        description?: string;
        helpText?: string;
        fields?: Array<{ fieldId: string; required?: boolean }> | 'screen';
      }>;
    };
  }>;
  /** Extra screens; one "Default Screen" exists from the start. */
  screens?: Array<{ name: string; description?: string; tabs?: string[] }>;
  /** Screen schemes by screen names; "Default Screen Scheme" (Default Screen) exists from the start. */
  screenSchemes?: Array<{ name: string; description?: string; screens: { default: string; create?: string; edit?: string; view?: string } }>;
  /**
   * Issue type screen schemes: issue type name (or `default`) → screen scheme name. "Default Issue
   * Type Screen Scheme" exists from the start; projects use it unless they name another
   * (`issueTypeScreenScheme`), or `null` for a team-managed project (no scheme).
   */
  issueTypeScreenSchemes?: Array<{ name: string; description?: string; mappings: Record<string, string> }>;
}

/** Input of {@link JiraSandboxState.createIssue} (REST `fields`, already JSON). */
export interface CreateIssueInput {
  fields: Record<string, unknown>;
  update?: Record<string, unknown>;
  properties?: Array<{ key: string; value: unknown }>;
}

const CUSTOM_TYPES: Record<string, { type: string; items?: string }> = {
  textfield: { type: 'string' },
  textarea: { type: 'string' },
  url: { type: 'string' },
  readonlyfield: { type: 'string' },
  float: { type: 'number' },
  importid: { type: 'number' },
  select: { type: 'option' },
  radiobuttons: { type: 'option' },
  cascadingselect: { type: 'option-with-child' },
  multiselect: { type: 'array', items: 'option' },
  multicheckboxes: { type: 'array', items: 'option' },
  userpicker: { type: 'user' },
  multiuserpicker: { type: 'array', items: 'user' },
  grouppicker: { type: 'group' },
  multigrouppicker: { type: 'array', items: 'group' },
  datepicker: { type: 'date' },
  datetime: { type: 'datetime' },
  labels: { type: 'array', items: 'string' },
  project: { type: 'project' },
  version: { type: 'version' },
  multiversion: { type: 'array', items: 'version' },
};

/** Fields a client may set on create and edit besides custom fields. */
const SETTABLE_SYSTEM_FIELDS = new Set(['summary', 'description', 'labels', 'assignee', 'reporter', 'project', 'issuetype']);

const SYSTEM_FIELDS: Array<[id: string, name: string, schema: SandboxFieldSchema, orderable: boolean]> = [
  ['summary', 'Summary', { type: 'string', system: 'summary' }, true],
  ['description', 'Description', { type: 'string', system: 'description' }, true],
  ['issuetype', 'Issue Type', { type: 'issuetype', system: 'issuetype' }, true],
  ['project', 'Project', { type: 'project', system: 'project' }, false],
  ['status', 'Status', { type: 'status', system: 'status' }, false],
  ['reporter', 'Reporter', { type: 'user', system: 'reporter' }, true],
  ['creator', 'Creator', { type: 'user', system: 'creator' }, false],
  ['assignee', 'Assignee', { type: 'user', system: 'assignee' }, true],
  ['labels', 'Labels', { type: 'array', items: 'string', system: 'labels' }, true],
  ['created', 'Created', { type: 'datetime', system: 'created' }, false],
  ['updated', 'Updated', { type: 'datetime', system: 'updated' }, false],
  ['comment', 'Comment', { type: 'comments-page', system: 'comment' }, true],
  ['attachment', 'Attachment', { type: 'array', items: 'attachment', system: 'attachment' }, true],
];

const STATUS_CATEGORY_IDS: Record<StatusCategoryKey, number> = { new: 2, indeterminate: 4, done: 3 };

/** Human list for error messages: "a, b and c". */
function list(names: string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * The sandbox's data and Jira's rules. Public fields are plain collections so tests can look
 * inside; change them only through the methods, which keep Jira's invariants and report events.
 */
export class JiraSandboxState {
  readonly users = new Map<string, SandboxUser>();
  readonly groups = new Map<string, SandboxGroup>();
  readonly statuses = new Map<string, SandboxStatus>();
  readonly issueTypes = new Map<string, SandboxIssueType>();
  readonly workflows = new Map<string, SandboxWorkflow>();
  readonly projects = new Map<string, SandboxProject>();
  readonly fields = new Map<string, SandboxField>();
  readonly screens = new Map<number, SandboxScreen>();
  readonly screenSchemes = new Map<number, SandboxScreenScheme>();
  readonly issueTypeScreenSchemes = new Map<string, SandboxIssueTypeScreenScheme>();
  readonly issueTypeSchemes = new Map<string, SandboxIssueTypeScheme>();
  readonly issues = new Map<string, SandboxIssue>();
  readonly serviceDesks = new Map<string, SandboxServiceDesk>();
  readonly resolutions = new Map<string, SandboxResolution>();
  private readonly clock: Clock;
  private readonly listener: (event: StateEvent) => void;
  private readonly counters = new Map<string, number>();
  private readonly issueCounters = new Map<string, number>();

  /**
   * @param listener receives every change Jira would announce by webhook
   * @param clock time source for created/updated stamps
   */
  constructor(listener: (event: StateEvent) => void = () => {}, clock: Clock = systemClock) {
    this.listener = listener;
    this.clock = clock;
    for (const [id, name, schema, orderable] of SYSTEM_FIELDS) {
      this.fields.set(id, { id, key: id, name, custom: false, schema, orderable, navigable: true, searchable: id !== 'comment', contexts: [] });
    }
    this.screens.set(1, {
      id: 1,
      name: 'Default Screen',
      description: 'Allows to update all system fields.',
      tabs: [{ id: this.nextId('tab', 10000), name: 'Field Tab', fieldIds: ['summary', 'issuetype', 'reporter', 'description', 'assignee', 'labels', 'attachment'] }],
    });
    const resolutions: Array<[string, string]> = [
      ['Done', 'Work has been completed on this issue.'],
      ["Won't Do", 'This issue won\'t be actioned.'],
      ['Duplicate', 'The problem is a duplicate of an existing issue.'],
      ['Cannot Reproduce', 'This issue could not be reproduced at this time.'],
    ];
    resolutions.forEach(([name, description], i) => this.resolutions.set(String(10000 + i), { id: String(10000 + i), name, description }));
    this.screenSchemes.set(1, { id: 1, name: 'Default Screen Scheme', description: 'Default Screen Scheme', screens: { default: 1 } });
    this.issueTypeScreenSchemes.set('1', { id: '1', name: 'Default Issue Type Screen Scheme', description: 'The default issue type screen scheme', mappings: { default: 1 } });
    const defaultSchemeText = 'Default issue type scheme is the list of global issue types. All newly created issue types will automatically be added to this scheme.';
    this.issueTypeSchemes.set('10000', { id: '10000', name: 'Default Issue Type Scheme', description: defaultSchemeText, isDefault: true, issueTypeIds: [] });
  }

  /** Next id of a kind, starting at `start`. */
  private nextId(kind: string, start: number): number {
    const n = (this.counters.get(kind) ?? start - 1) + 1;
    this.counters.set(kind, n);
    return n;
  }

  private now(): Date {
    return this.clock.now();
  }

  // -------------------------------------------------------------------------------------------
  // Seeding

  /** Adds seed data. Names must resolve; a typo throws naming the entry. */
  seed(seed: SandboxSeed): void {
    for (const g of seed.groups ?? []) this.ensureGroup(g);
    for (const u of seed.users ?? []) {
      for (const g of u.groups ?? []) this.ensureGroup(g);
      this.users.set(u.accountId, {
        accountId: u.accountId,
        displayName: u.displayName,
        emailAddress: u.email,
        apiToken: u.apiToken,
        active: u.active ?? true,
        groups: [...(u.groups ?? [])],
        timeZone: u.timeZone ?? 'UTC',
        accountType: u.accountType ?? 'atlassian',
      });
    }
    for (const s of seed.statuses ?? []) {
      if (this.statusByName(s.name)) continue;
      const id = s.id ?? String(this.nextId('status', 10000));
      this.statuses.set(id, { id, name: s.name, category: s.category, description: s.description ?? '' });
    }
    for (const t of seed.issueTypes ?? []) {
      if (this.issueTypeByName(t.name)) continue;
      const id = t.id ?? String(this.nextId('issuetype', 10001));
      this.issueTypes.set(id, { id, name: t.name, description: t.description ?? '', subtask: t.subtask ?? false });
      this.defaultIssueTypeScheme().issueTypeIds.push(id);
    }
    for (const [name, wf] of Object.entries(seed.workflows ?? {})) {
      const initial = this.requireStatus(wf.initial, `workflow ${name}: initial`);
      this.workflows.set(name, {
        name,
        initialStatusId: initial.id,
        transitions: wf.transitions.map((t) => ({
          id: t.id ?? String(this.nextId('transition', 1) * 10 + 1),
          name: t.name,
          from: (t.from ?? []).map((f) => this.requireStatus(f, `workflow ${name}, transition ${t.name}: from`).id),
          to: this.requireStatus(t.to, `workflow ${name}, transition ${t.name}: to`).id,
          ...(t.resolution ? { resolution: t.resolution } : {}),
          ...(t.validators?.length ? { validators: t.validators.map((v) => ({ ...v })) } : {}),
        })),
      });
    }
    for (const s of seed.screens ?? []) {
      const id = this.nextId('screen', 2);
      this.screens.set(id, {
        id,
        name: s.name,
        description: s.description ?? '',
        tabs: (s.tabs ?? ['Field Tab']).map((tab) => ({ id: this.nextId('tab', 10000), name: tab, fieldIds: [] })),
      });
    }
    this.seedScreenSchemes(seed);
    for (const p of seed.projects ?? []) {
      const workflow = this.workflows.get(p.workflow);
      if (!workflow) throw new Error(`seed: project ${p.key}: unknown workflow "${p.workflow}"`);
      const id = p.id ?? String(this.nextId('project', 10000));
      const project: SandboxProject = {
        id,
        key: p.key,
        name: p.name,
        projectTypeKey: p.type ?? (p.serviceDesk ? 'service_desk' : 'software'),
        issueTypeIds: p.issueTypes.map((n) => this.requireIssueType(n, `project ${p.key}: issueTypes`).id),
        workflow,
        leadAccountId: p.lead,
        ...(p.issueTypeScreenScheme === null ? {} : { issueTypeScreenSchemeId: this.requireItss(p.issueTypeScreenScheme ?? 'Default Issue Type Screen Scheme', `project ${p.key}`).id }),
      };
      if (p.approval) project.approval = this.approvalConfig(p.approval, `project ${p.key}`);
      if (project.issueTypeScreenSchemeId) project.issueTypeSchemeId = this.seedIssueTypeScheme(p.issueTypeScheme ?? `${p.key}: Issue Type Scheme`, project.issueTypeIds);
      this.projects.set(id, project);
      if (project.issueTypeSchemeId) this.syncSchemeProjects(project.issueTypeSchemeId);
      if (p.serviceDesk) {
        const sdId = p.serviceDesk.id ?? String(this.nextId('servicedesk', 1));
        this.serviceDesks.set(sdId, {
          id: sdId,
          projectId: id,
          requestTypes: p.serviceDesk.requestTypes.map((rt) => ({
            id: rt.id ?? String(this.nextId('requesttype', 1)),
            name: rt.name,
            description: rt.description ?? '',
            helpText: rt.helpText ?? '',
            issueTypeId: this.requireIssueType(rt.issueType, `project ${p.key}: request type ${rt.name}`).id,
            serviceDeskId: sdId,
            fields: rt.fields === undefined ? 'screen' : rt.fields === 'screen' ? 'screen' : rt.fields.map((f) => ({ fieldId: f.fieldId, required: f.required ?? false })),
          })),
        });
      }
    }
  }

  /** The issue type scheme named `name` (created when new) holding `issueTypeIds` too; its id. */
  private seedIssueTypeScheme(name: string, issueTypeIds: string[]): string {
    let scheme = [...this.issueTypeSchemes.values()].find((x) => x.name === name);
    if (!scheme) {
      const id = String(this.nextId('issuetypescheme', 10001));
      scheme = { id, name, description: '', isDefault: false, issueTypeIds: [] };
      this.issueTypeSchemes.set(id, scheme);
    }
    for (const t of issueTypeIds) if (!scheme.issueTypeIds.includes(t)) scheme.issueTypeIds.push(t);
    return scheme.id;
  }

  /** The projects using issue type scheme `id` offer exactly its issue types. */
  private syncSchemeProjects(id: string): void {
    const scheme = this.issueTypeSchemes.get(id) as SandboxIssueTypeScheme;
    for (const p of this.projects.values()) if (p.issueTypeSchemeId === id) p.issueTypeIds = [...scheme.issueTypeIds];
  }

  private defaultIssueTypeScheme(): SandboxIssueTypeScheme {
    return [...this.issueTypeSchemes.values()].find((x) => x.isDefault) as SandboxIssueTypeScheme;
  }

  /** Seeds screen schemes and issue type screen schemes (after screens and issue types). */
  private seedScreenSchemes(seed: SandboxSeed): void {
    const screenId = (name: string, where: string): number => {
      const found = [...this.screens.values()].find((x) => x.name === name);
      if (!found) throw new Error(`seed: ${where}: unknown screen "${name}"`);
      return found.id;
    };
    for (const ss of seed.screenSchemes ?? []) {
      const id = this.nextId('screenscheme', 2);
      const where = `screen scheme ${ss.name}`;
      const screens: SandboxScreenScheme['screens'] = { default: screenId(ss.screens.default, where) };
      for (const k of ['create', 'edit', 'view'] as const) if (ss.screens[k]) screens[k] = screenId(ss.screens[k], where);
      this.screenSchemes.set(id, { id, name: ss.name, description: ss.description ?? '', screens });
    }
    for (const itss of seed.issueTypeScreenSchemes ?? []) {
      const id = String(this.nextId('itss', 10000));
      const mappings: Record<string, number> = {};
      for (const [type, schemeName] of Object.entries(itss.mappings)) {
        const scheme = [...this.screenSchemes.values()].find((x) => x.name === schemeName);
        if (!scheme) throw new Error(`seed: issue type screen scheme ${itss.name}: unknown screen scheme "${schemeName}"`);
        mappings[type === 'default' ? 'default' : this.requireIssueType(type, `issue type screen scheme ${itss.name}`).id] = scheme.id;
      }
      if (mappings.default === undefined) throw new Error(`seed: issue type screen scheme ${itss.name}: a default mapping is required`);
      this.issueTypeScreenSchemes.set(id, { id, name: itss.name, description: itss.description ?? '', mappings });
    }
  }

  /** A project's approval set-up from its seed; the site gets JSM's Approvals field with the first one. */
  private approvalConfig(a: SandboxApprovalSeed, where: string): SandboxApprovalConfig {
    if (a.approverGroup) this.ensureGroup(a.approverGroup);
    const required = a.required ?? 1;
    if (!Number.isInteger(required) || required < 1) throw new Error(`seed: ${where}: approval.required must be a positive integer`);
    this.approvalsField();
    return {
      name: a.name ?? 'Approval',
      statusId: this.requireStatus(a.status, `${where}: approval.status`).id,
      approverAccountIds: [...(a.approvers ?? [])],
      approverGroup: a.approverGroup,
      approvedStatusId: this.requireStatus(a.approved, `${where}: approval.approved`).id,
      declinedStatusId: this.requireStatus(a.declined, `${where}: approval.declined`).id,
      required,
      excludeReporter: a.excludeReporter ?? true,
    };
  }

  /** Changes a project's JSM approval set-up (a service desk admin editing the approval step). */
  setApproval(projectKey: string, approval: SandboxApprovalSeed): void {
    const project = this.project(projectKey);
    project.approval = this.approvalConfig(approval, `project ${project.key}`);
  }

  /** Gives a company-managed project another issue type screen scheme (Project settings → Screens → Use a different scheme). */
  useIssueTypeScreenScheme(projectKey: string, schemeName: string): void {
    const project = this.project(projectKey);
    if (!project.issueTypeScreenSchemeId) throw new Error(`project ${projectKey} is team-managed: it has no issue type screen scheme`);
    project.issueTypeScreenSchemeId = this.requireItss(schemeName, `project ${projectKey}`).id;
  }

  /** JSM's Approvals custom field (no context: it never shows among an issue's fields here); changelogs name it. */
  approvalsField(): SandboxField {
    const existing = [...this.fields.values()].find((f) => f.schema.custom === APPROVALS_FIELD_TYPE);
    if (existing) return existing;
    const n = this.nextId('customfield', 10000);
    const id = `customfield_${n}`;
    const field: SandboxField = {
      id,
      key: id,
      name: 'Approvals',
      custom: true,
      description: 'Provides search options for Jira Service Management approvals information.',
      schema: { type: 'sd-approvals', custom: APPROVALS_FIELD_TYPE, customId: n },
      orderable: true,
      navigable: true,
      searchable: true,
      contexts: [],
    };
    this.fields.set(id, field);
    return field;
  }

  private requireItss(name: string, where: string): SandboxIssueTypeScreenScheme {
    const found = [...this.issueTypeScreenSchemes.values()].find((x) => x.name === name);
    if (!found) throw new Error(`seed: ${where}: unknown issue type screen scheme "${name}"`);
    return found;
  }

  private ensureGroup(name: string): void {
    if (!this.groups.has(name)) {
      const n = this.nextId('group', 1);
      this.groups.set(name, { name, groupId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` });
    }
  }

  private requireStatus(name: string, where: string): SandboxStatus {
    const s = this.statusByName(name);
    if (!s) throw new Error(`seed: ${where}: unknown status "${name}"`);
    return s;
  }

  private requireIssueType(name: string, where: string): SandboxIssueType {
    const t = this.issueTypeByName(name);
    if (!t) throw new Error(`seed: ${where}: unknown issue type "${name}"`);
    return t;
  }

  // -------------------------------------------------------------------------------------------
  // Look-ups

  /** Status by name (case-insensitive). */
  statusByName(name: string): SandboxStatus | undefined {
    return [...this.statuses.values()].find((s) => s.name.toLowerCase() === name.toLowerCase());
  }

  /** Issue type by name (case-insensitive). */
  issueTypeByName(name: string): SandboxIssueType | undefined {
    return [...this.issueTypes.values()].find((t) => t.name.toLowerCase() === name.toLowerCase());
  }

  /** Project by id or key; throws 404 otherwise. */
  project(idOrKey: string): SandboxProject {
    const p = this.projects.get(idOrKey) ?? [...this.projects.values()].find((x) => x.key.toLowerCase() === idOrKey.toLowerCase());
    if (!p) throw new JiraApiError(404, [`No project could be found with key '${idOrKey}'.`]);
    return p;
  }

  /** Issue by id or key; throws 404 otherwise. */
  issue(idOrKey: string): SandboxIssue {
    const i = this.issues.get(idOrKey) ?? [...this.issues.values()].find((x) => x.key.toLowerCase() === idOrKey.toLowerCase());
    if (!i) throw new JiraApiError(404, ['Issue does not exist or you do not have permission to see it.']);
    return i;
  }

  /** User by account id; throws 404 otherwise. */
  user(accountId: string): SandboxUser {
    const u = this.users.get(accountId);
    if (!u) throw new JiraApiError(404, [`Specified user does not exist or you do not have required permissions`]);
    return u;
  }

  /** Field by id; throws 404 otherwise. */
  field(fieldId: string): SandboxField {
    const f = this.fields.get(fieldId);
    if (!f) throw new JiraApiError(404, [`The custom field was not found.`]);
    return f;
  }

  /** A custom field's context; 404 when either is unknown. */
  context(fieldId: string, contextId: string): SandboxFieldContext {
    const f = this.field(fieldId);
    const c = f.contexts.find((x) => x.id === contextId);
    if (!c) throw new JiraApiError(404, [`The context was not found.`]);
    return c;
  }

  /** Members of a group; 404 when the group is unknown. */
  groupMembers(name: string, includeInactive: boolean): SandboxUser[] {
    if (!this.groups.has(name)) throw new JiraApiError(404, [`Group not found.`]);
    return [...this.users.values()].filter((u) => u.groups.includes(name) && (includeInactive || u.active));
  }

  /** Group by name or id. */
  group(nameOrId: string): SandboxGroup | undefined {
    return this.groups.get(nameOrId) ?? [...this.groups.values()].find((g) => g.groupId === nameOrId);
  }

  /** The user whose email and API token match, or undefined. */
  authenticate(email: string, token: string): SandboxUser | undefined {
    const u = [...this.users.values()].find((x) => x.emailAddress?.toLowerCase() === email.toLowerCase());
    return u && u.apiToken !== undefined && u.apiToken === token && u.active ? u : undefined;
  }

  /**
   * Screens an issue of the project and issue type shows (create, edit, view, default), through
   * the project's issue type screen scheme and its screen scheme; without a project, every screen.
   * A project without a scheme (team-managed) has none.
   */
  projectScreens(projectId?: string, issueTypeId?: string): SandboxScreen[] {
    if (projectId === undefined) return [...this.screens.values()];
    const itss = this.issueTypeScreenSchemes.get(this.project(projectId).issueTypeScreenSchemeId ?? '');
    if (!itss) return [];
    const scheme = this.screenSchemes.get(itss.mappings[issueTypeId ?? ''] ?? (itss.mappings.default as number));
    const ids = new Set(Object.values(scheme?.screens ?? {}));
    return [...ids].map((id) => this.screens.get(id)).filter((x): x is SandboxScreen => x !== undefined);
  }

  /** True when the field is on a tab of a screen the project and issue type use (any screen without them). */
  fieldOnScreen(fieldId: string, projectId?: string, issueTypeId?: string): boolean {
    return this.projectScreens(projectId, issueTypeId).some((s) => s.tabs.some((t) => t.fieldIds.includes(fieldId)));
  }

  /** The context of a custom field that applies to a project and issue type (project-specific first). */
  applicableContext(field: SandboxField, projectId: string, issueTypeId: string): SandboxFieldContext | undefined {
    const fits = (c: SandboxFieldContext) =>
      (c.projectIds.length === 0 || c.projectIds.includes(projectId)) && (c.issueTypeIds.length === 0 || c.issueTypeIds.includes(issueTypeId));
    return field.contexts.find((c) => c.projectIds.length > 0 && fits(c)) ?? field.contexts.find(fits);
  }

  /** Custom fields that have a context for the issue's project and type (shown on the issue). */
  issueCustomFields(issue: SandboxIssue): SandboxField[] {
    return [...this.fields.values()].filter((f) => f.custom && this.applicableContext(f, issue.projectId, issue.issueTypeId));
  }

  /** Transitions available from the issue's current status. */
  transitionsFor(issue: SandboxIssue): SandboxTransition[] {
    const wf = this.project(issue.projectId).workflow;
    return wf.transitions.filter((t) => (t.from.length === 0 || t.from.includes(issue.statusId)) && t.to !== issue.statusId);
  }

  /** The values a JQL clause sees for an issue. */
  jqlView(issue: SandboxIssue): JqlIssueView {
    const project = this.project(issue.projectId);
    const type = this.issueTypes.get(issue.issueTypeId);
    const status = this.statuses.get(issue.statusId);
    return {
      project: [project.key, project.id, project.name],
      issuetype: type ? [type.name, type.id] : [],
      status: status ? [status.name, status.id] : [],
      key: [issue.key, issue.id],
      reporter: [issue.reporterId],
      assignee: issue.assigneeId ? [issue.assigneeId] : ['EMPTY'],
      labels: issue.labels,
    };
  }

  /** Issues matching a JQL string (subset), ordered as asked (default: key order). */
  search(jql: string): SandboxIssue[] {
    const query: JqlQuery = parseJql(jql);
    const hits = [...this.issues.values()].filter((i) => matchesJql(query, this.jqlView(i)));
    const order = query.orderBy ?? { field: 'created' as const, direction: 'ASC' as const };
    const key = (i: SandboxIssue) => (order.field === 'key' ? Number(i.id) : order.field === 'updated' ? i.updated.getTime() : i.created.getTime() * 1e6 + Number(i.id));
    hits.sort((a, b) => (key(a) - key(b)) * (order.direction === 'DESC' ? -1 : 1));
    return hits;
  }

  // -------------------------------------------------------------------------------------------
  // Field values

  /**
   * Validates and normalizes one value for a field. Stored forms: strings, numbers, ADF docs,
   * `{ optionId }`, `{ accountId }`, arrays of those; null clears. Throws 400 naming the field.
   */
  private normalizeValue(field: SandboxField, value: unknown, projectId: string, issueTypeId: string): unknown {
    const bad = (msg: string): never => {
      throw new JiraApiError(400, [], { [field.id]: msg });
    };
    if (value === null || value === undefined) return null;
    const custom = field.schema.custom?.slice(CUSTOM_FIELD_TYPE_PREFIX.length);
    const one = (v: unknown, type: string): unknown => {
      switch (type) {
        case 'string': {
          if (custom === 'textarea') {
            const problem = adfProblem(v);
            if (problem) bad(problem);
            if (adfStoredLength(v) > JIRA_TEXT_LIMIT) bad(TOO_LONG_MESSAGE);
            return v;
          }
          if (typeof v !== 'string') return bad(`Operation value must be a string`);
          if (v.length > 255) bad('You can only enter 255 characters in this field.');
          return v;
        }
        case 'number':
          if (typeof v !== 'number' || !Number.isFinite(v)) bad(`Operation value must be a number`);
          return v;
        case 'option': {
          const ctx = this.applicableContext(field, projectId, issueTypeId);
          const o = v as { id?: unknown; value?: unknown } | null;
          const opt = ctx?.options.find((x) => (o?.id !== undefined ? x.id === String(o.id) : x.value === o?.value));
          const label = String(o?.value ?? o?.id ?? '');
          if (!opt || opt.disabled || opt.optionId) return bad(`Option value '${label}' is not valid`);
          return { optionId: opt.id };
        }
        case 'user': {
          const a = (v as { accountId?: unknown } | null)?.accountId;
          if (typeof a !== 'string' || !this.users.has(a)) return bad(`Specify a valid value for ${field.name}`);
          return { accountId: a };
        }
        case 'date':
          if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\d$/.test(v)) bad(`Error parsing date string: ${String(v)}`);
          return v;
        case 'label':
          if (typeof v !== 'string' || /\s/.test(v) || v === '') bad(`The label '${String(v)}' contains spaces which is invalid.`);
          return v;
        default:
          return v;
      }
    };
    if (field.schema.type === 'array') {
      if (!Array.isArray(value)) return bad(`Operation value must be an array`);
      const itemType = field.schema.items === 'string' ? 'label' : (field.schema.items ?? 'any');
      return value.map((v) => one(v, itemType));
    }
    if (field.id === 'description') {
      const problem = adfProblem(value);
      if (problem) bad(problem);
      if (adfStoredLength(value) > JIRA_TEXT_LIMIT) bad(TOO_LONG_MESSAGE);
      return value;
    }
    return one(value, field.schema.type);
  }

  /** The display string of a stored value, for changelog `fromString`/`toString`. */
  valueString(field: SandboxField, stored: unknown): string | null {
    if (stored === null || stored === undefined) return null;
    const one = (v: unknown): string => {
      if (v && typeof v === 'object' && 'optionId' in v) {
        const id = (v as { optionId: string }).optionId;
        for (const c of field.contexts) {
          const o = c.options.find((x) => x.id === id);
          if (o) return o.value;
        }
        return id;
      }
      if (v && typeof v === 'object' && 'accountId' in v) return this.users.get((v as { accountId: string }).accountId)?.displayName ?? '';
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'doc') return adfToText(v);
      return String(v);
    };
    return Array.isArray(stored) ? stored.map(one).join(field.schema.items === 'string' ? ' ' : ',') : one(stored);
  }

  /** The id string of a stored value, for changelog `from`/`to`. */
  private valueId(stored: unknown): string | null {
    if (stored === null || stored === undefined) return null;
    const one = (v: unknown): string | null =>
      v && typeof v === 'object' && 'optionId' in v
        ? (v as { optionId: string }).optionId
        : v && typeof v === 'object' && 'accountId' in v
          ? (v as { accountId: string }).accountId
          : null;
    if (Array.isArray(stored)) {
      const ids = stored.map(one).filter((x): x is string => x !== null);
      return ids.length ? `[${ids.join(', ')}]` : null;
    }
    return one(stored);
  }

  /**
   * Applies `fields` (and the `update` verbs for labels) to an issue, validating every value
   * first so a bad value changes nothing. Returns the changelog items.
   */
  private applyFields(issue: SandboxIssue, fields: Record<string, unknown>, update: Record<string, unknown> | undefined, creating: boolean): ChangeItem[] {
    const errors: Record<string, string> = {};
    const staged: Array<[SandboxField, unknown]> = [];
    for (const [id, raw] of Object.entries(fields)) {
      if (creating && (id === 'project' || id === 'issuetype')) continue;
      const field = this.fields.get(id);
      const settable = field && (field.custom ? this.fieldOnScreen(id, issue.projectId, issue.issueTypeId) && this.applicableContext(field, issue.projectId, issue.issueTypeId) : SETTABLE_SYSTEM_FIELDS.has(id));
      if (!field || !settable || (!creating && (id === 'project' || id === 'issuetype'))) {
        errors[id] = `Field '${id}' cannot be set. It is not on the appropriate screen, or unknown.`;
        continue;
      }
      try {
        if (id === 'summary') {
          if (typeof raw !== 'string' || raw.trim() === '') throw new JiraApiError(400, [], { summary: 'You must specify a summary of the issue.' });
          if (raw.length > 255) throw new JiraApiError(400, [], { summary: 'Summary must be less than 255 characters.' });
          staged.push([field, raw]);
        } else if (id === 'assignee' || id === 'reporter') {
          const a = (raw as { accountId?: unknown } | null)?.accountId;
          if (raw !== null && (typeof a !== 'string' || !this.users.has(a))) throw new JiraApiError(400, [], { [id]: `Specify a valid value for ${field.name}` });
          staged.push([field, raw === null ? null : { accountId: a }]);
        } else {
          staged.push([field, this.normalizeValue(field, raw, issue.projectId, issue.issueTypeId)]);
        }
      } catch (err) {
        if (err instanceof JiraApiError) Object.assign(errors, err.errors);
        else throw err;
      }
    }
    const labelOps = (update?.labels ?? []) as Array<{ add?: string; remove?: string; set?: string[] }>;
    if (!Array.isArray(labelOps)) errors.labels = 'Operation value must be an array';
    for (const k of Object.keys(update ?? {})) {
      if (k !== 'labels' && k !== 'comment') errors[k] = `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`;
    }
    if (Object.keys(errors).length) throw new JiraApiError(400, [], errors);

    const items: ChangeItem[] = [];
    const record = (field: SandboxField, before: unknown, after: unknown) => {
      const fromS = field.id === 'summary' || field.id === 'description' ? this.textOf(before) : this.valueString(field, before);
      const toS = field.id === 'summary' || field.id === 'description' ? this.textOf(after) : this.valueString(field, after);
      if (JSON.stringify(before ?? null) === JSON.stringify(after ?? null)) return;
      items.push({
        field: field.custom ? field.name : field.id,
        fieldtype: field.custom ? 'custom' : 'jira',
        fieldId: field.id,
        from: this.valueId(before),
        fromString: fromS,
        to: this.valueId(after),
        toString: toS,
      });
    };
    for (const [field, value] of staged) {
      switch (field.id) {
        case 'summary':
          record(field, creating ? null : issue.summary, value);
          issue.summary = value as string;
          break;
        case 'description':
          record(field, issue.description, value);
          issue.description = value;
          break;
        case 'labels':
          record(field, issue.labels.length ? issue.labels : null, (value as string[] | null)?.length ? value : null);
          issue.labels = (value as string[] | null) ?? [];
          break;
        case 'assignee':
          record(field, issue.assigneeId ? { accountId: issue.assigneeId } : null, value);
          issue.assigneeId = (value as { accountId: string } | null)?.accountId;
          break;
        case 'reporter':
          record(field, creating ? null : { accountId: issue.reporterId }, value);
          if (value) issue.reporterId = (value as { accountId: string }).accountId;
          break;
        default:
          record(field, issue.customFields[field.id] ?? null, value);
          issue.customFields[field.id] = value;
      }
    }
    if (labelOps.length) {
      const before = [...issue.labels];
      for (const op of labelOps) {
        if (op.set) issue.labels = [...op.set];
        if (op.add && !issue.labels.includes(op.add)) issue.labels.push(op.add);
        if (op.remove) issue.labels = issue.labels.filter((l) => l !== op.remove);
      }
      const labelsField = this.fields.get('labels') as SandboxField;
      record(labelsField, before.length ? before : null, issue.labels.length ? issue.labels : null);
    }
    return items;
  }

  private textOf(v: unknown): string | null {
    if (v === null || v === undefined) return null;
    return typeof v === 'string' ? v : adfToText(v);
  }

  // -------------------------------------------------------------------------------------------
  // Issues

  /** Creates an issue as `actorId`. Throws 400 with every field error at once. */
  createIssue(input: CreateIssueInput, actorId: string): SandboxIssue {
    const fields = input.fields ?? {};
    if (typeof fields !== 'object' || fields === null) throw new JiraApiError(400, ['Request body is missing "fields".']);
    const errors: Record<string, string> = {};
    const pRef = fields.project as { id?: string; key?: string } | undefined;
    const project = pRef ? [...this.projects.values()].find((p) => p.id === String(pRef.id ?? '') || p.key === pRef.key) : undefined;
    if (!project) errors.project = 'Specify a valid project ID or key';
    const tRef = fields.issuetype as { id?: string; name?: string } | undefined;
    const type = tRef ? [...this.issueTypes.values()].find((t) => t.id === String(tRef.id ?? '') || (tRef.name && t.name === tRef.name)) : undefined;
    if (!tRef) errors.issuetype = 'Specify an issue type';
    else if (!type || (project && !project.issueTypeIds.includes(type.id))) errors.issuetype = 'Specify a valid issue type';
    if (fields.summary === undefined) errors.summary = 'You must specify a summary of the issue.';
    if (Object.keys(errors).length || !project || !type) throw new JiraApiError(400, [], errors);

    const now = this.now();
    const seq = (this.issueCounters.get(project.id) ?? 0) + 1;
    const issue: SandboxIssue = {
      id: String(this.nextId('issue', 10000)),
      key: `${project.key}-${seq}`,
      projectId: project.id,
      issueTypeId: type.id,
      statusId: project.workflow.initialStatusId,
      summary: '',
      description: null,
      labels: [],
      reporterId: actorId,
      creatorId: actorId,
      created: now,
      updated: now,
      statusCategoryChanged: now,
      customFields: {},
      comments: [],
      attachments: [],
      properties: new Map(),
      changelog: [],
      approvals: [],
    };
    const items = this.applyFields(issue, fields, input.update, true);
    const status = this.statuses.get(issue.statusId) as SandboxStatus;
    items.push({ field: 'Status', fieldtype: 'jira', fieldId: 'status', from: null, fromString: null, to: status.id, toString: status.name });
    for (const p of input.properties ?? []) issue.properties.set(p.key, p.value);
    this.issueCounters.set(project.id, seq);
    this.issues.set(issue.id, issue);
    const changelog: SandboxChangelog = { id: String(this.nextId('changelog', 10000)), authorId: actorId, created: now, items };
    this.listener({ type: 'issue_created', issue, actorId, changelog });
    this.maybeOpenApproval(issue);
    return issue;
  }

  /** Edits fields of an issue (REST `PUT issue`). Returns the changelog, or undefined when nothing changed. */
  editIssue(idOrKey: string, input: { fields?: Record<string, unknown>; update?: Record<string, unknown> }, actorId: string): SandboxChangelog | undefined {
    const issue = this.issue(idOrKey);
    const commentOps = (input.update?.comment ?? []) as Array<{ add?: { body?: unknown } }>;
    for (const op of commentOps) if (op.add) this.checkCommentBody(op.add.body);
    const items = this.applyFields(issue, input.fields ?? {}, input.update, false);
    let changelog: SandboxChangelog | undefined;
    if (items.length) {
      const now = this.now();
      issue.updated = now;
      changelog = { id: String(this.nextId('changelog', 10000)), authorId: actorId, created: now, items };
      issue.changelog.push(changelog);
      this.listener({ type: 'issue_updated', issue, actorId, eventTypeName: 'issue_updated', changelog });
    }
    for (const op of commentOps) if (op.add) this.addComment(issue.key, { body: op.add.body }, actorId);
    return changelog;
  }

  /**
   * Performs a workflow transition by id (REST) and applies its `fields`: the Resolution when the
   * transition screen has it (required there: 400 without it), other fields as an edit. Its
   * validators run first; a failure is Jira's 400 and nothing changes. `properties` are set on
   * the issue with the move.
   */
  transitionIssue(
    idOrKey: string,
    input: { transition?: { id?: string }; fields?: Record<string, unknown>; update?: Record<string, unknown>; properties?: Array<{ key: string; value: unknown }> },
    actorId: string,
  ): void {
    const issue = this.issue(idOrKey);
    const id = String(input.transition?.id ?? '');
    const t = this.transitionsFor(issue).find((x) => x.id === id);
    if (!t) throw new JiraApiError(400, [`Transition id '${id}' is not valid for this issue.`]);
    const { resolution: resolutionRaw, ...fields } = input.fields ?? {};
    const resolution = this.transitionResolution(t, resolutionRaw);
    this.checkValidators(issue, t, fields, resolution);
    const items = this.applyFields(issue, fields, input.update, false);
    if (resolution) items.push(this.setResolution(issue, resolution));
    this.moveToStatus(issue, t.to, actorId, items);
    // Issue properties sent with the transition are set with it (IssueUpdateDetails.properties).
    for (const p of input.properties ?? []) issue.properties.set(p.key, p.value);
  }

  /** The resolution a transition sets: given on its screen, required there, or refused when it has none. */
  private transitionResolution(t: SandboxTransition, raw: unknown): SandboxResolution | undefined {
    if (raw === undefined || raw === null) {
      if (t.resolution === 'required') throw new JiraApiError(400, [], { resolution: 'Resolution is required.' });
      return undefined;
    }
    if (!t.resolution) throw new JiraApiError(400, [], { resolution: "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown." });
    const ref = raw as { id?: unknown; name?: unknown };
    const found = [...this.resolutions.values()].find((r) => (ref.id !== undefined ? r.id === String(ref.id) : r.name === ref.name));
    if (!found) throw new JiraApiError(400, [], { resolution: `The resolution '${String(ref.id ?? ref.name)}' does not exist.` });
    return found;
  }

  /** Runs a transition's validators against the issue as the transition would leave it. */
  private checkValidators(issue: SandboxIssue, t: SandboxTransition, fields: Record<string, unknown>, resolution: SandboxResolution | undefined): void {
    for (const v of t.validators ?? []) {
      const value =
        v.field === 'resolution'
          ? resolution
          : v.field === 'assignee'
            ? (fields.assignee ?? issue.assigneeId)
            : (fields[v.field] ?? issue.customFields[v.field] ?? (issue as unknown as Record<string, unknown>)[v.field]);
      const empty = value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
      if (!empty) continue;
      // A field on the transition screen is named in `errors`; any other in `errorMessages`.
      if (v.field === 'resolution' && t.resolution) throw new JiraApiError(400, [], { resolution: v.message });
      throw new JiraApiError(400, [v.message]);
    }
  }

  private setResolution(issue: SandboxIssue, r: SandboxResolution): ChangeItem {
    const before = issue.resolutionId ? this.resolutions.get(issue.resolutionId) : undefined;
    issue.resolutionId = r.id;
    return { field: 'resolution', fieldtype: 'jira', fieldId: 'resolution', from: before?.id ?? null, fromString: before?.name ?? null, to: r.id, toString: r.name };
  }

  /**
   * Transitions by target status name (used by sandbox actors), picking the workflow transition;
   * a transition screen's Resolution is filled with the first one, as a person would pick it.
   */
  transitionTo(idOrKey: string, statusName: string, actorId: string): void {
    const issue = this.issue(idOrKey);
    const target = this.statusByName(statusName);
    const t = target && this.transitionsFor(issue).find((x) => x.to === target.id);
    if (!t) {
      const from = this.statuses.get(issue.statusId)?.name;
      throw new JiraApiError(400, [`No transition from '${from}' to '${statusName}' in the workflow of ${issue.key}.`]);
    }
    const resolution = t.resolution ? [...this.resolutions.values()][0] : undefined;
    this.checkValidators(issue, t, {}, resolution);
    this.moveToStatus(issue, t.to, actorId, resolution ? [this.setResolution(issue, resolution)] : []);
  }

  /** Changes a transition's screen and validators (a Jira administrator editing the workflow). */
  setTransitionRules(workflowName: string, transitionName: string, rules: { resolution?: SandboxTransition['resolution'] | null; validators?: SandboxValidator[] }): void {
    const t = this.workflows.get(workflowName)?.transitions.find((x) => x.name === transitionName);
    if (!t) throw new Error(`no transition "${transitionName}" in workflow "${workflowName}"`);
    if (rules.resolution !== undefined) {
      if (rules.resolution === null) delete t.resolution;
      else t.resolution = rules.resolution;
    }
    if (rules.validators !== undefined) t.validators = rules.validators.map((v) => ({ ...v }));
  }

  private moveToStatus(issue: SandboxIssue, statusId: string, actorId: string, extra: ChangeItem[]): void {
    const from = this.statuses.get(issue.statusId) as SandboxStatus;
    const to = this.statuses.get(statusId) as SandboxStatus;
    const now = this.now();
    if (from.category !== to.category) issue.statusCategoryChanged = now;
    // Leaving the done category clears the resolution (the usual post function of a reopen).
    if (to.category !== 'done' && issue.resolutionId) {
      extra = [...extra, { field: 'resolution', fieldtype: 'jira', fieldId: 'resolution', from: issue.resolutionId, fromString: this.resolutions.get(issue.resolutionId)?.name ?? null, to: null, toString: null }];
      delete issue.resolutionId;
    }
    issue.statusId = statusId;
    issue.updated = now;
    const changelog: SandboxChangelog = {
      id: String(this.nextId('changelog', 10000)),
      authorId: actorId,
      created: now,
      items: [...extra, { field: 'status', fieldtype: 'jira', fieldId: 'status', from: from.id, fromString: from.name, to: to.id, toString: to.name }],
    };
    issue.changelog.push(changelog);
    this.listener({ type: 'issue_updated', issue, actorId, eventTypeName: 'issue_generic', changelog });
    this.maybeOpenApproval(issue);
  }

  /** Opens a JSM approval when the issue enters its project's approval status. */
  private maybeOpenApproval(issue: SandboxIssue): void {
    const cfg = this.project(issue.projectId).approval;
    if (!cfg || cfg.statusId !== issue.statusId) return;
    if (issue.approvals.some((a) => a.finalDecision === 'pending')) return;
    const groupMembers = cfg.approverGroup && this.groups.has(cfg.approverGroup) ? this.groupMembers(cfg.approverGroup, false).map((u) => u.accountId) : [];
    const approvers = [...new Set([...cfg.approverAccountIds, ...groupMembers])].filter((a) => !cfg.excludeReporter || a !== issue.reporterId);
    issue.approvals.push({
      id: String(this.nextId('approval', 1)),
      name: cfg.name,
      approvers: approvers.map((accountId) => ({ accountId, decision: 'pending' })),
      finalDecision: 'pending',
      created: this.now(),
      config: cfg,
    });
  }

  /**
   * Answers a JSM approval as `actorId` (one of its pending approvers). Every decision updates the
   * issue (a webhook with the Approvals field in its changelog); one decline declines, `required`
   * approvals approve, and the issue then moves to the approved or declined status.
   */
  answerApproval(idOrKey: string, approvalId: string, decision: unknown, actorId: string): SandboxApproval {
    const issue = this.issue(idOrKey);
    const approval = issue.approvals.find((a) => a.id === approvalId);
    if (!approval) throw new JiraApiError(404, [`The approval with ID ${approvalId} does not exist.`]);
    if (decision !== 'approve' && decision !== 'decline') throw new JiraApiError(400, [`The decision must be 'approve' or 'decline'.`]);
    if (approval.finalDecision !== 'pending') throw new JiraApiError(409, [`This approval has already been completed.`]);
    const slot = approval.approvers.find((a) => a.accountId === actorId);
    if (!slot) throw new JiraApiError(403, [`You are not an approver on this request.`]);
    if (slot.decision !== 'pending') throw new JiraApiError(409, [`You have already answered this approval.`]);
    slot.decision = decision === 'approve' ? 'approved' : 'declined';
    const approvedCount = approval.approvers.filter((a) => a.decision === 'approved').length;
    if (slot.decision === 'declined') approval.finalDecision = 'declined';
    else if (approvedCount >= approval.config.required) approval.finalDecision = 'approved';
    this.approvalAnswered(issue, approval, actorId, slot.decision);
    if (approval.finalDecision !== 'pending') {
      approval.completed = this.now();
      this.moveToStatus(issue, approval.finalDecision === 'approved' ? approval.config.approvedStatusId : approval.config.declinedStatusId, actorId, []);
    }
    return approval;
  }

  /** Records one approver's decision on the issue and announces it (`jira:issue_updated`). */
  private approvalAnswered(issue: SandboxIssue, approval: SandboxApproval, actorId: string, decision: 'approved' | 'declined'): void {
    const field = this.approvalsField();
    const who = this.users.get(actorId)?.displayName ?? actorId;
    const now = this.now();
    issue.updated = now;
    const item: ChangeItem = { field: field.name, fieldtype: 'custom', fieldId: field.id, from: null, fromString: null, to: approval.id, toString: `${approval.name}: ${who} ${decision}` };
    const changelog: SandboxChangelog = { id: String(this.nextId('changelog', 10000)), authorId: actorId, created: now, items: [item] };
    issue.changelog.push(changelog);
    this.listener({ type: 'issue_updated', issue, actorId, eventTypeName: 'issue_updated', changelog });
  }

  // -------------------------------------------------------------------------------------------
  // Comments

  /** Throws Jira's 400 when a v3 comment body is not ADF or is over the limit. */
  checkCommentBody(body: unknown): void {
    if (body === undefined) throw new JiraApiError(400, [], { comment: 'Comment body can not be empty!' });
    const problem = adfProblem(body);
    if (problem === NOT_ADF_MESSAGE) throw new JiraApiError(400, [NOT_ADF_MESSAGE]);
    if (problem) throw new JiraApiError(400, [], { comment: problem });
    if (adfStoredLength(body) > JIRA_TEXT_LIMIT) throw new JiraApiError(400, [], { comment: TOO_LONG_MESSAGE });
    if (adfToText(body).trim() === '') throw new JiraApiError(400, [], { comment: 'Comment body can not be empty!' });
  }

  /** Adds an ADF comment as `actorId`. */
  addComment(idOrKey: string, input: { body?: unknown; visibility?: SandboxComment['visibility']; properties?: Array<{ key: string; value: unknown }> }, actorId: string): SandboxComment {
    const issue = this.issue(idOrKey);
    this.checkCommentBody(input.body);
    const now = this.now();
    const comment: SandboxComment = {
      id: String(this.nextId('comment', 10000)),
      authorId: actorId,
      updateAuthorId: actorId,
      body: input.body,
      created: now,
      updated: now,
      visibility: input.visibility,
      properties: [...(input.properties ?? [])],
    };
    issue.comments.push(comment);
    issue.updated = now;
    this.listener({ type: 'comment_created', issue, comment, actorId });
    this.listener({ type: 'issue_updated', issue, actorId, eventTypeName: 'issue_commented', comment });
    return comment;
  }

  /** Replaces a comment's body as `actorId`. */
  updateComment(idOrKey: string, commentId: string, input: { body?: unknown; visibility?: SandboxComment['visibility'] }, actorId: string): SandboxComment {
    const issue = this.issue(idOrKey);
    const comment = issue.comments.find((c) => c.id === commentId);
    if (!comment) throw new JiraApiError(404, [`Can not find a comment for the id: ${commentId}.`]);
    this.checkCommentBody(input.body);
    comment.body = input.body;
    if (input.visibility !== undefined) comment.visibility = input.visibility;
    comment.updateAuthorId = actorId;
    comment.updated = this.now();
    issue.updated = comment.updated;
    this.listener({ type: 'comment_updated', issue, comment, actorId });
    this.listener({ type: 'issue_updated', issue, actorId, eventTypeName: 'issue_comment_edited', comment });
    return comment;
  }

  /** Deletes a comment. */
  deleteComment(idOrKey: string, commentId: string): void {
    const issue = this.issue(idOrKey);
    const at = issue.comments.findIndex((c) => c.id === commentId);
    if (at < 0) throw new JiraApiError(404, [`Can not find a comment for the id: ${commentId}.`]);
    issue.comments.splice(at, 1);
  }

  // -------------------------------------------------------------------------------------------
  // Attachments and properties

  /** Stores attachments on an issue. */
  addAttachments(idOrKey: string, files: Array<{ filename: string; mimeType: string; content: Buffer }>, actorId: string): SandboxAttachment[] {
    const issue = this.issue(idOrKey);
    const added = files.map((f) => ({ id: String(this.nextId('attachment', 10000)), filename: f.filename, mimeType: f.mimeType, content: f.content, authorId: actorId, created: this.now() }));
    issue.attachments.push(...added);
    return added;
  }

  /** Attachment by id across issues; 404 otherwise. */
  attachment(id: string): SandboxAttachment {
    for (const i of this.issues.values()) {
      const a = i.attachments.find((x) => x.id === id);
      if (a) return a;
    }
    throw new JiraApiError(404, ['The attachment was not found.']);
  }

  /** Sets an issue property; returns true when it was created (201), false when replaced (200). */
  setIssueProperty(idOrKey: string, key: string, value: unknown): boolean {
    const issue = this.issue(idOrKey);
    if (key.length > 255) throw new JiraApiError(400, ['The property key cannot be longer than 255 characters.']);
    if (value === undefined) throw new JiraApiError(400, ['The property value must be valid JSON.']);
    if (Buffer.byteLength(JSON.stringify(value)) > 32_768) throw new JiraApiError(400, ['The property value cannot be longer than 32768 bytes.']);
    const created = !issue.properties.has(key);
    issue.properties.set(key, value);
    return created;
  }

  /** Reads an issue property; 404 when absent. */
  issueProperty(idOrKey: string, key: string): unknown {
    const issue = this.issue(idOrKey);
    if (!issue.properties.has(key)) throw new JiraApiError(404, [`The property with key '${key}' does not exist.`]);
    return issue.properties.get(key);
  }

  /** Deletes an issue property; 404 when absent. */
  deleteIssueProperty(idOrKey: string, key: string): void {
    const issue = this.issue(idOrKey);
    if (!issue.properties.delete(key)) throw new JiraApiError(404, [`The property with key '${key}' does not exist.`]);
  }

  // -------------------------------------------------------------------------------------------
  // Fields, contexts, options, screens

  /** Creates a custom field with a global default context, as Jira Cloud does. */
  createCustomField(input: { name?: unknown; description?: unknown; type?: unknown; searcherKey?: unknown }): SandboxField {
    const errors: Record<string, string> = {};
    if (typeof input.name !== 'string' || input.name.trim() === '') errors.name = 'The custom field name is required.';
    const typeKey = typeof input.type === 'string' ? input.type : '';
    const short = typeKey.startsWith(CUSTOM_FIELD_TYPE_PREFIX) ? typeKey.slice(CUSTOM_FIELD_TYPE_PREFIX.length) : '';
    const schema = CUSTOM_TYPES[short];
    if (!schema) errors.type = `The custom field type '${typeKey}' is not valid.`;
    if (input.searcherKey !== undefined && (typeof input.searcherKey !== 'string' || !input.searcherKey.startsWith(CUSTOM_FIELD_TYPE_PREFIX)))
      errors.searcherKey = `The searcher key '${String(input.searcherKey)}' is not valid for the field type.`;
    if (Object.keys(errors).length || !schema) throw new JiraApiError(400, [], errors);
    const n = this.nextId('customfield', 10000);
    const id = `customfield_${n}`;
    const field: SandboxField = {
      id,
      key: id,
      name: (input.name as string).trim(),
      custom: true,
      description: typeof input.description === 'string' ? input.description : undefined,
      schema: { ...schema, custom: typeKey, customId: n },
      searcherKey: input.searcherKey as string | undefined,
      orderable: true,
      navigable: true,
      searchable: input.searcherKey !== undefined,
      contexts: [],
    };
    field.contexts.push({
      id: String(this.nextId('context', 10100)),
      name: `Default Configuration Scheme for ${field.name}`,
      description: 'Default configuration scheme generated by Jira',
      projectIds: [],
      issueTypeIds: [],
      options: [],
    });
    this.fields.set(id, field);
    return field;
  }

  /** Creates a context for a custom field. */
  createContext(fieldId: string, input: { name?: unknown; description?: unknown; projectIds?: unknown; issueTypeIds?: unknown }): SandboxFieldContext {
    const field = this.field(fieldId);
    if (!field.custom) throw new JiraApiError(404, ['The custom field was not found.']);
    if (typeof input.name !== 'string' || !input.name.trim()) throw new JiraApiError(400, [], { name: 'The context name is required.' });
    const projectIds = (Array.isArray(input.projectIds) ? input.projectIds : []).map(String);
    const issueTypeIds = (Array.isArray(input.issueTypeIds) ? input.issueTypeIds : []).map(String);
    const unknownProjects = projectIds.filter((p) => !this.projects.has(p));
    if (unknownProjects.length) throw new JiraApiError(404, [`These projects were not found: ${list(unknownProjects)}.`]);
    const unknownTypes = issueTypeIds.filter((t) => !this.issueTypes.has(t));
    if (unknownTypes.length) throw new JiraApiError(404, [`These issue types were not found: ${list(unknownTypes)}.`]);
    // Jira allows one context per project per field.
    const taken = projectIds.filter((p) => field.contexts.some((c) => c.projectIds.includes(p)));
    if (taken.length) throw new JiraApiError(409, [`Projects ${list(taken)} are already associated with a context of this field.`]);
    const ctx: SandboxFieldContext = {
      id: String(this.nextId('context', 10100)),
      name: input.name.trim(),
      description: typeof input.description === 'string' ? input.description : '',
      projectIds,
      issueTypeIds,
      options: [],
    };
    field.contexts.push(ctx);
    return ctx;
  }

  private requireOptionField(fieldId: string): SandboxField {
    const field = this.field(fieldId);
    const isOption = field.schema.type === 'option' || field.schema.items === 'option' || field.schema.type === 'option-with-child';
    if (!isOption) throw new JiraApiError(400, ['The custom field doesn\'t support options.']);
    return field;
  }

  /** Adds options to a context; a duplicate value is refused. */
  createOptions(fieldId: string, contextId: string, options: unknown): SandboxOption[] {
    this.requireOptionField(fieldId);
    const ctx = this.context(fieldId, contextId);
    if (!Array.isArray(options) || options.length === 0) throw new JiraApiError(400, ['The options must be provided.']);
    const seen = new Set(ctx.options.filter((o) => !o.optionId).map((o) => o.value));
    const added: SandboxOption[] = [];
    for (const raw of options as Array<{ value?: unknown; disabled?: unknown; optionId?: unknown }>) {
      if (typeof raw?.value !== 'string' || raw.value.trim() === '') throw new JiraApiError(400, ['The option value must be provided.']);
      if (raw.value.length > 255) throw new JiraApiError(400, ['The option value must be shorter than 255 characters.']);
      if (raw.optionId === undefined && seen.has(raw.value)) throw new JiraApiError(400, [`The option '${raw.value}' already exists in this context.`]);
      if (raw.optionId !== undefined && !ctx.options.some((o) => o.id === String(raw.optionId))) throw new JiraApiError(400, [`The parent option '${String(raw.optionId)}' was not found.`]);
      seen.add(raw.value);
      added.push({ id: String(this.nextId('option', 10200)), value: raw.value, disabled: raw.disabled === true, ...(raw.optionId !== undefined ? { optionId: String(raw.optionId) } : {}) });
    }
    ctx.options.push(...added);
    return added;
  }

  /** Renames and (dis)ables options; options are never deleted here. */
  updateOptions(fieldId: string, contextId: string, options: unknown): SandboxOption[] {
    this.requireOptionField(fieldId);
    const ctx = this.context(fieldId, contextId);
    if (!Array.isArray(options) || options.length === 0) throw new JiraApiError(400, ['The options must be provided.']);
    const targets = (options as Array<{ id?: unknown; value?: unknown; disabled?: unknown }>).map((raw) => {
      const opt = ctx.options.find((o) => o.id === String(raw?.id));
      if (!opt) throw new JiraApiError(404, [`The option '${String(raw?.id)}' was not found in this context.`]);
      if (raw.value !== undefined && (typeof raw.value !== 'string' || raw.value.trim() === '')) throw new JiraApiError(400, ['The option value must be provided.']);
      if (typeof raw.value === 'string' && ctx.options.some((o) => o !== opt && !o.optionId && o.value === raw.value)) throw new JiraApiError(400, [`The option '${raw.value}' already exists in this context.`]);
      return [opt, raw] as const;
    });
    for (const [opt, raw] of targets) {
      if (typeof raw.value === 'string') opt.value = raw.value;
      if (typeof raw.disabled === 'boolean') opt.disabled = raw.disabled;
    }
    return targets.map(([o]) => o);
  }

  /** Deletes an option (Jira allows it; ticket-surface disables instead). */
  deleteOption(fieldId: string, contextId: string, optionId: string): void {
    const ctx = this.context(fieldId, contextId);
    const at = ctx.options.findIndex((o) => o.id === optionId);
    if (at < 0) throw new JiraApiError(404, [`The option '${optionId}' was not found in this context.`]);
    ctx.options.splice(at, 1);
  }

  /** Screen by id; 404 otherwise. */
  screen(id: string): SandboxScreen {
    const s = this.screens.get(Number(id));
    if (!s) throw new JiraApiError(404, [`The screen with id '${id}' does not exist.`]);
    return s;
  }

  /** Tab of a screen; 404 otherwise. */
  tab(screenId: string, tabId: string): SandboxScreenTab {
    const t = this.screen(screenId).tabs.find((x) => x.id === Number(tabId));
    if (!t) throw new JiraApiError(404, [`The screen tab with id '${tabId}' does not exist.`]);
    return t;
  }

  /** Puts a field on a screen tab; a field already on the screen is refused like Jira does. */
  addFieldToTab(screenId: string, tabId: string, fieldId: unknown): SandboxField {
    const screen = this.screen(screenId);
    const tab = this.tab(screenId, tabId);
    if (typeof fieldId !== 'string' || !this.fields.has(fieldId)) throw new JiraApiError(400, [`The field with id '${String(fieldId)}' does not exist.`]);
    if (screen.tabs.some((t) => t.fieldIds.includes(fieldId))) throw new JiraApiError(400, [`The field with id '${fieldId}' already exists on the screen.`]);
    tab.fieldIds.push(fieldId);
    return this.fields.get(fieldId) as SandboxField;
  }

  /** Takes a field off a screen tab; a field not on that tab is a 404, as in Jira. */
  removeFieldFromTab(screenId: string, tabId: string, fieldId: string): void {
    const tab = this.tab(screenId, tabId);
    const at = tab.fieldIds.indexOf(fieldId);
    if (at < 0) throw new JiraApiError(404, [`The field with id '${fieldId}' is not on the screen tab.`]);
    tab.fieldIds.splice(at, 1);
  }

  // -------------------------------------------------------------------------------------------
  // Administration: issue types, issue type schemes, screens, screen schemes, mappings

  /** Creates an issue type (`IssueTypeCreateBean`) and adds it to the default issue type scheme, as Jira Cloud does. */
  createIssueType(input: Record<string, unknown>): SandboxIssueType {
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name) throw new JiraApiError(400, [], { name: 'You must specify a unique name for this issue type.' });
    if (name.length > 60) throw new JiraApiError(400, [], { name: 'The issue type name must not exceed 60 characters.' });
    if (input.description !== undefined && typeof input.description !== 'string') throw new JiraApiError(400, ['The description must be a string.']);
    if (input.hierarchyLevel !== undefined && input.hierarchyLevel !== 0 && input.hierarchyLevel !== -1) throw new JiraApiError(400, ['The hierarchy level must be -1 or 0.']);
    if (this.issueTypeByName(name)) throw new JiraApiError(409, [], { name: 'An issue type with this name already exists.' });
    const id = String(this.nextId('issuetype', 10001));
    const type: SandboxIssueType = { id, name, description: (input.description as string | undefined) ?? '', subtask: input.hierarchyLevel === -1 || input.type === 'subtask' };
    this.issueTypes.set(id, type);
    const scheme = this.defaultIssueTypeScheme();
    scheme.issueTypeIds.push(id);
    this.syncSchemeProjects(scheme.id);
    return type;
  }

  /** Issue type scheme by id; 404 otherwise. */
  issueTypeScheme(id: string): SandboxIssueTypeScheme {
    const s = this.issueTypeSchemes.get(id);
    if (!s) throw new JiraApiError(404, [`The issue type scheme with ID ${id} was not found.`]);
    return s;
  }

  /** Appends issue types to an issue type scheme (`IssueTypeIds`); one already in it fails the whole call. */
  addIssueTypesToScheme(schemeId: string, input: Record<string, unknown>): void {
    const scheme = this.issueTypeScheme(schemeId);
    const ids = this.issueTypeIdList(input);
    const there = ids.filter((t) => scheme.issueTypeIds.includes(t));
    if (there.length) throw new JiraApiError(400, [`These issue types are already part of the issue type scheme: ${list(there)}.`]);
    scheme.issueTypeIds.push(...ids);
    this.syncSchemeProjects(scheme.id);
  }

  /** Appends issue types to a custom field context (`IssueTypeIds`); one already in it fails the whole call. */
  addIssueTypesToContext(fieldId: string, contextId: string, input: Record<string, unknown>): void {
    const ctx = this.context(fieldId, contextId);
    const ids = this.issueTypeIdList(input);
    const there = ids.filter((t) => ctx.issueTypeIds.includes(t));
    if (there.length) throw new JiraApiError(409, [`These issue types are already associated with the context: ${list(there)}.`]);
    ctx.issueTypeIds.push(...ids);
  }

  /** The `issueTypeIds` of an `IssueTypeIds` body: a non-empty list of known issue type ids (400, 404 otherwise). */
  private issueTypeIdList(input: Record<string, unknown>): string[] {
    const raw = input.issueTypeIds;
    if (!Array.isArray(raw) || raw.length === 0 || raw.some((t) => typeof t !== 'string')) throw new JiraApiError(400, ['The list of issue type IDs must not be empty.']);
    const ids = [...new Set(raw as string[])];
    const unknown = ids.filter((t) => !this.issueTypes.has(t));
    if (unknown.length) throw new JiraApiError(404, [`These issue types were not found: ${list(unknown)}.`]);
    return ids;
  }

  /** Creates a screen (`ScreenDetails`) with a default field tab. */
  createScreen(input: Record<string, unknown>): SandboxScreen {
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name || name.length > 255) throw new JiraApiError(400, [], { name: 'The screen name must be between 1 and 255 characters.' });
    if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > 255)) throw new JiraApiError(400, [], { description: 'The description must be at most 255 characters.' });
    if ([...this.screens.values()].some((x) => x.name === name)) throw new JiraApiError(400, [], { name: 'The name is used by another screen.' });
    const id = this.nextId('screen', 2);
    const screen: SandboxScreen = { id, name, description: (input.description as string | undefined) ?? '', tabs: [{ id: this.nextId('tab', 10000), name: 'Field Tab', fieldIds: [] }] };
    this.screens.set(id, screen);
    return screen;
  }

  /** Creates a screen scheme (`ScreenSchemeDetails`); its screens must exist (404). */
  createScreenScheme(input: Record<string, unknown>): SandboxScreenScheme {
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name || name.length > 255) throw new JiraApiError(400, [], { name: 'The screen scheme name must be between 1 and 255 characters.' });
    if ([...this.screenSchemes.values()].some((x) => x.name === name)) throw new JiraApiError(400, [], { name: 'The name is used by another screen scheme.' });
    const raw = input.screens as Record<string, unknown> | undefined;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw) || typeof raw.default !== 'number') throw new JiraApiError(400, [], { screens: 'The default screen is required.' });
    const screens: SandboxScreenScheme['screens'] = { default: raw.default };
    for (const k of ['create', 'edit', 'view'] as const) {
      if (raw[k] === undefined) continue;
      if (typeof raw[k] !== 'number') throw new JiraApiError(400, [], { screens: `The ${k} screen must be a screen id.` });
      screens[k] = raw[k];
    }
    for (const s of Object.values(screens)) if (!this.screens.has(s)) throw new JiraApiError(404, [`The screen with id '${s}' does not exist.`]);
    const id = this.nextId('screenscheme', 2);
    const scheme: SandboxScreenScheme = { id, name, description: typeof input.description === 'string' ? input.description : '', screens };
    this.screenSchemes.set(id, scheme);
    return scheme;
  }

  /** Appends issue type → screen scheme mappings to an issue type screen scheme (`IssueTypeScreenSchemeMappingDetails`). */
  appendScreenSchemeMappings(itssId: string, input: Record<string, unknown>): void {
    const itss = this.issueTypeScreenSchemes.get(itssId);
    if (!itss) throw new JiraApiError(404, [`The issue type screen scheme with ID ${itssId} was not found.`]);
    const rows = input.issueTypeMappings;
    if (!Array.isArray(rows) || rows.length === 0) throw new JiraApiError(400, ['The issue type mappings must not be empty.']);
    const add: Record<string, number> = {};
    for (const row of rows as Array<{ issueTypeId?: unknown; screenSchemeId?: unknown }>) {
      if (typeof row?.issueTypeId !== 'string' || typeof row.screenSchemeId !== 'string') throw new JiraApiError(400, ['Each mapping needs an issueTypeId and a screenSchemeId.']);
      if (row.issueTypeId === 'default') throw new JiraApiError(400, ['A default mapping cannot be added.']);
      if (!this.issueTypes.has(row.issueTypeId)) throw new JiraApiError(404, [`The issue type with ID ${row.issueTypeId} was not found.`]);
      if (!this.screenSchemes.has(Number(row.screenSchemeId))) throw new JiraApiError(404, [`The screen scheme with ID ${row.screenSchemeId} was not found.`]);
      if (itss.mappings[row.issueTypeId] !== undefined || add[row.issueTypeId] !== undefined) throw new JiraApiError(400, [`The issue type ${row.issueTypeId} is already mapped in the issue type screen scheme.`]);
      add[row.issueTypeId] = Number(row.screenSchemeId);
    }
    Object.assign(itss.mappings, add);
  }

  // -------------------------------------------------------------------------------------------
  // JSM

  /** Service desk by id; 404 otherwise. */
  serviceDesk(id: string): SandboxServiceDesk {
    const sd = this.serviceDesks.get(id);
    if (!sd) throw new JiraApiError(404, [`The service desk with id '${id}' does not exist.`]);
    return sd;
  }

  /** Request type of a service desk; 404 otherwise. */
  requestType(serviceDeskId: string, requestTypeId: string): SandboxRequestType {
    const rt = this.serviceDesk(serviceDeskId).requestTypes.find((r) => r.id === requestTypeId);
    if (!rt) throw new JiraApiError(404, [`The request type with id '${requestTypeId}' does not exist.`]);
    return rt;
  }
}
