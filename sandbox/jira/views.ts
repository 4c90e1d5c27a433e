/**
 * Renders sandbox state as Jira renders it: REST v3 JSON (ADF bodies, /rest/api/3 links), the v2
 * webhook shape (plain-text bodies, /rest/api/2 links, every system field present even when empty,
 * as in the real delivery in test/fixtures/jira) and JSM's DTOs.
 */
import { adfToText } from './adf.ts';
import type {
  JiraSandboxState,
  SandboxApproval,
  SandboxAttachment,
  SandboxChangelog,
  SandboxComment,
  SandboxField,
  SandboxFieldContext,
  SandboxIssue,
  SandboxIssueType,
  SandboxProject,
  SandboxRequestType,
  SandboxStatus,
  SandboxResolution,
  SandboxTransition,
  SandboxUser,
  StatusCategoryKey,
} from './state.ts';

/** REST flavour: v3 bodies are ADF, v2 (webhooks) bodies are text. */
export type ApiVersion = '2' | '3';

/** Options of {@link JiraViews.issueBean}, from the query string of GET issue or a search body. */
export interface IssueBeanOptions {
  /** Field selectors: `*all`, `*navigable`, ids, `-id` exclusions. Default `*all`. */
  fields?: string[];
  /** Expand words: names, schema, transitions, changelog, renderedFields. */
  expand?: string[];
  /** Property keys to include (`*all` for every one). */
  properties?: string[];
  /** Account id of the caller (for per-user flags). */
  callerId?: string;
}

const CATEGORY: Record<StatusCategoryKey, { id: number; colorName: string; name: string }> = {
  new: { id: 2, colorName: 'blue-gray', name: 'To Do' },
  indeterminate: { id: 4, colorName: 'yellow', name: 'In Progress' },
  done: { id: 3, colorName: 'green', name: 'Done' },
};

/** Jira's timestamp format: milliseconds and an offset without a colon. */
export function jiraDate(d: Date): string {
  return d.toISOString().replace('Z', '+0000');
}

/** Renders the state into Jira's JSON representations. */
export class JiraViews {
  private readonly state: JiraSandboxState;
  private readonly baseUrl: string;

  /**
   * @param state the sandbox state to read
   * @param baseUrl the site URL links point at (`http://127.0.0.1:<port>`)
   */
  constructor(state: JiraSandboxState, baseUrl: string) {
    this.state = state;
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  private api(v: ApiVersion): string {
    return `${this.baseUrl}/rest/api/${v}`;
  }

  /** Avatar URLs of a user or project. */
  avatarUrls(seed: string): Record<string, string> {
    const u = `${this.baseUrl}/secure/useravatar?avatarId=${encodeURIComponent(seed)}`;
    return { '48x48': u, '24x24': `${u}&size=small`, '16x16': `${u}&size=xsmall`, '32x32': `${u}&size=medium` };
  }

  /** A user (REST `User` / webhook `user`). */
  user(u: SandboxUser, v: ApiVersion = '3'): Record<string, unknown> {
    return {
      self: `${this.api(v)}/user?accountId=${encodeURIComponent(u.accountId)}`,
      accountId: u.accountId,
      ...(u.emailAddress && v === '3' ? { emailAddress: u.emailAddress } : {}),
      avatarUrls: this.avatarUrls(u.accountId),
      displayName: u.displayName,
      active: u.active,
      timeZone: u.timeZone,
      accountType: u.accountType,
    };
  }

  /** A user by id, or null when unknown. */
  userRef(accountId: string | undefined, v: ApiVersion = '3'): Record<string, unknown> | null {
    const u = accountId ? this.state.users.get(accountId) : undefined;
    return u ? this.user(u, v) : null;
  }

  /** A group (`GroupName`). */
  group(name: string): Record<string, unknown> {
    const g = this.state.group(name);
    return { name, groupId: g?.groupId ?? null, self: `${this.api('3')}/group?groupId=${encodeURIComponent(g?.groupId ?? name)}` };
  }

  /** A status (`StatusDetails`). */
  status(s: SandboxStatus, v: ApiVersion = '3'): Record<string, unknown> {
    const c = CATEGORY[s.category];
    return {
      self: `${this.api(v)}/status/${s.id}`,
      description: s.description,
      iconUrl: `${this.baseUrl}/images/icons/statuses/generic.png`,
      name: s.name,
      id: s.id,
      statusCategory: { self: `${this.api(v)}/statuscategory/${c.id}`, id: c.id, key: s.category, colorName: c.colorName, name: c.name },
    };
  }

  /** An issue type (`IssueTypeDetails`). */
  issueType(t: SandboxIssueType, v: ApiVersion = '3'): Record<string, unknown> {
    return {
      self: `${this.api(v)}/issuetype/${t.id}`,
      id: t.id,
      description: t.description,
      iconUrl: `${this.api(v)}/universal_avatar/view/type/issuetype/avatar/10318?size=medium`,
      name: t.name,
      subtask: t.subtask,
      avatarId: 10318,
      entityId: `5f2b8a1e-0000-4000-8000-${t.id.padStart(12, '0')}`,
      hierarchyLevel: t.subtask ? -1 : 0,
    };
  }

  /** The short project shape embedded in issues. */
  projectRef(p: SandboxProject, v: ApiVersion = '3'): Record<string, unknown> {
    return {
      self: `${this.api(v)}/project/${p.id}`,
      id: p.id,
      key: p.key,
      name: p.name,
      projectTypeKey: p.projectTypeKey,
      simplified: false,
      avatarUrls: this.avatarUrls(`project-${p.id}`),
    };
  }

  /** The full project (`Project`). */
  project(p: SandboxProject): Record<string, unknown> {
    const lead = this.userRef(p.leadAccountId);
    return {
      expand: 'description,lead,issueTypes,url,projectKeys,permissions,insight',
      self: `${this.api('3')}/project/${p.id}`,
      id: p.id,
      key: p.key,
      name: p.name,
      description: '',
      ...(lead ? { lead } : {}),
      components: [],
      issueTypes: p.issueTypeIds.map((id) => this.issueType(this.state.issueTypes.get(id) as SandboxIssueType)),
      assigneeType: 'UNASSIGNED',
      versions: [],
      roles: {},
      avatarUrls: this.avatarUrls(`project-${p.id}`),
      projectTypeKey: p.projectTypeKey,
      // A project without an issue type screen scheme is team-managed ("next-gen").
      simplified: !p.issueTypeScreenSchemeId,
      style: p.issueTypeScreenSchemeId ? 'classic' : 'next-gen',
      isPrivate: false,
      properties: {},
    };
  }

  /** A project as lists of projects show it (`ProjectDetails`). */
  projectDetails(p: SandboxProject): Record<string, unknown> {
    return {
      self: `${this.api('3')}/project/${p.id}`,
      id: p.id,
      key: p.key,
      name: p.name,
      projectTypeKey: p.projectTypeKey,
      simplified: !p.issueTypeScreenSchemeId,
      avatarUrls: this.avatarUrls(`project-${p.id}`),
    };
  }

  /** A field (`FieldDetails`). */
  field(f: SandboxField): Record<string, unknown> {
    const schema: Record<string, unknown> = { type: f.schema.type };
    if (f.schema.items) schema.items = f.schema.items;
    if (f.schema.system) schema.system = f.schema.system;
    if (f.schema.custom) schema.custom = f.schema.custom;
    if (f.schema.customId !== undefined) schema.customId = f.schema.customId;
    return {
      id: f.id,
      key: f.key,
      name: f.name,
      custom: f.custom,
      orderable: f.orderable,
      navigable: f.navigable,
      searchable: f.searchable,
      clauseNames: f.custom ? [`cf[${f.schema.customId}]`, f.name] : [f.id],
      schema,
    };
  }

  /** A context as `GET /field/{id}/context` lists it (`CustomFieldContext`). */
  context(c: SandboxFieldContext): Record<string, unknown> {
    return { id: c.id, name: c.name, description: c.description, isGlobalContext: c.projectIds.length === 0, isAnyIssueType: c.issueTypeIds.length === 0 };
  }

  /** The stored value of a field, rendered for the issue (`v` decides ADF or text). */
  fieldValue(field: SandboxField, stored: unknown, v: ApiVersion): unknown {
    if (stored === null || stored === undefined) return null;
    const one = (x: unknown): unknown => {
      if (x && typeof x === 'object' && 'optionId' in x) {
        const id = (x as { optionId: string }).optionId;
        const opt = field.contexts.flatMap((c) => c.options).find((o) => o.id === id);
        return { self: `${this.api(v)}/customFieldOption/${id}`, value: opt?.value ?? id, id };
      }
      if (x && typeof x === 'object' && 'accountId' in x) return this.userRef((x as { accountId: string }).accountId, v);
      if (x && typeof x === 'object' && (x as { type?: unknown }).type === 'doc') return v === '3' ? x : adfToText(x);
      return x;
    };
    return Array.isArray(stored) ? stored.map(one) : one(stored);
  }

  /** A comment (`Comment`); v2 bodies are plain text. */
  comment(issue: SandboxIssue, c: SandboxComment, v: ApiVersion = '3', withProperties = false): Record<string, unknown> {
    return {
      self: `${this.api(v)}/issue/${issue.id}/comment/${c.id}`,
      id: c.id,
      author: this.userRef(c.authorId, v),
      body: v === '3' ? c.body : adfToText(c.body),
      updateAuthor: this.userRef(c.updateAuthorId, v),
      created: jiraDate(c.created),
      updated: jiraDate(c.updated),
      ...(c.visibility ? { visibility: c.visibility } : {}),
      jsdPublic: true,
      ...(withProperties ? { properties: c.properties } : {}),
    };
  }

  /** An attachment (`Attachment`). */
  attachment(a: SandboxAttachment, v: ApiVersion = '3'): Record<string, unknown> {
    return {
      self: `${this.api(v)}/attachment/${a.id}`,
      id: a.id,
      filename: a.filename,
      author: this.userRef(a.authorId, v),
      created: jiraDate(a.created),
      size: a.content.length,
      mimeType: a.mimeType,
      content: `${this.api(v)}/attachment/content/${a.id}`,
    };
  }

  /** All fields of an issue, as GET issue returns them with `fields=*all`. */
  issueFields(issue: SandboxIssue, v: ApiVersion): Record<string, unknown> {
    const project = this.state.projects.get(issue.projectId) as SandboxProject;
    const type = this.state.issueTypes.get(issue.issueTypeId) as SandboxIssueType;
    const status = this.state.statuses.get(issue.statusId) as SandboxStatus;
    const fields: Record<string, unknown> = {
      statuscategorychangedate: jiraDate(issue.statusCategoryChanged),
      issuetype: this.issueType(type, v),
      timespent: null,
      project: this.projectRef(project, v),
      fixVersions: [],
      aggregatetimespent: null,
      resolution: this.issueResolution(issue, status, v),
      resolutiondate: null,
      workratio: -1,
      issuerestriction: { issuerestrictions: {}, shouldDisplay: true },
      lastViewed: null,
      watches: { self: `${this.api(v)}/issue/${issue.key}/watchers`, watchCount: 0, isWatching: false },
      created: jiraDate(issue.created),
      priority: { self: `${this.api(v)}/priority/3`, iconUrl: `${this.baseUrl}/images/icons/priorities/medium_new.svg`, name: 'Medium', id: '3' },
      labels: [...issue.labels],
      timeestimate: null,
      aggregatetimeoriginalestimate: null,
      versions: [],
      issuelinks: [],
      assignee: this.userRef(issue.assigneeId, v),
      updated: jiraDate(issue.updated),
      status: this.status(status, v),
      components: [],
      timeoriginalestimate: null,
      description: issue.description === null ? null : v === '3' ? issue.description : adfToText(issue.description),
      timetracking: {},
      security: null,
      aggregatetimeestimate: null,
      attachment: issue.attachments.map((a) => this.attachment(a, v)),
      summary: issue.summary,
      creator: this.userRef(issue.creatorId, v),
      subtasks: [],
      reporter: this.userRef(issue.reporterId, v),
      aggregateprogress: { progress: 0, total: 0 },
      environment: null,
      duedate: null,
      progress: { progress: 0, total: 0 },
      votes: { self: `${this.api(v)}/issue/${issue.key}/votes`, votes: 0, hasVoted: false },
    };
    if (v === '3') {
      fields.comment = {
        comments: issue.comments.map((c) => this.comment(issue, c, v)),
        self: `${this.api(v)}/issue/${issue.id}/comment`,
        maxResults: issue.comments.length,
        total: issue.comments.length,
        startAt: 0,
      };
    }
    for (const f of this.state.issueCustomFields(issue)) fields[f.id] = this.fieldValue(f, issue.customFields[f.id], v);
    return fields;
  }

  /** The issue's resolution: the one a transition set, else Done for an issue in a done status. */
  private issueResolution(issue: SandboxIssue, status: SandboxStatus, v: ApiVersion): Record<string, unknown> | null {
    const set = issue.resolutionId ? this.state.resolutions.get(issue.resolutionId) : undefined;
    if (set) return this.resolution(set, v);
    return status.category === 'done' ? this.resolution(this.state.resolutions.get('10000') as SandboxResolution, v) : null;
  }

  /** Applies a `fields` selector list to a full field map. */
  selectFields(all: Record<string, unknown>, selectors: string[]): Record<string, unknown> {
    const wanted = selectors.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
    const include = wanted.filter((s) => !s.startsWith('-'));
    const exclude = new Set(wanted.filter((s) => s.startsWith('-')).map((s) => s.slice(1)));
    const everything = include.length === 0 || include.includes('*all') || include.includes('*navigable');
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(all)) {
      if (exclude.has(k)) continue;
      if (everything || include.includes(k)) out[k] = val;
    }
    return out;
  }

  /** A transition (`IssueTransition`). */
  transition(t: SandboxTransition, withFields = false): Record<string, unknown> {
    return {
      id: t.id,
      name: t.name,
      to: this.status(this.state.statuses.get(t.to) as SandboxStatus),
      hasScreen: t.resolution !== undefined,
      isGlobal: t.from.length === 0,
      isInitial: false,
      isAvailable: true,
      isConditional: false,
      isLooped: false,
      ...(withFields ? { fields: t.resolution ? { resolution: this.resolutionField(t.resolution === 'required') } : {} } : {}),
    };
  }

  /** The Resolution field of a transition screen (`FieldMetadata`), with the site's resolutions. */
  resolutionField(required: boolean): Record<string, unknown> {
    return {
      required,
      schema: { type: 'resolution', system: 'resolution' },
      name: 'Resolution',
      key: 'resolution',
      operations: ['set'],
      allowedValues: [...this.state.resolutions.values()].map((r) => this.resolution(r)),
    };
  }

  /** A resolution as Jira renders it. */
  resolution(r: SandboxResolution, v: ApiVersion = '3'): Record<string, unknown> {
    return { self: `${this.api(v)}/resolution/${r.id}`, id: r.id, description: r.description, name: r.name };
  }


  /** A changelog entry (`Changelog`). */
  changelog(c: SandboxChangelog): Record<string, unknown> {
    return { id: c.id, author: this.userRef(c.authorId), created: jiraDate(c.created), items: c.items.map((i) => ({ ...i })) };
  }

  /** An issue (`IssueBean`), honouring `fields`, `expand` and `properties`. */
  issueBean(issue: SandboxIssue, options: IssueBeanOptions = {}): Record<string, unknown> {
    const expand = new Set((options.expand ?? []).flatMap((e) => e.split(',')).map((e) => e.trim()));
    const fields = this.selectFields(this.issueFields(issue, '3'), options.fields ?? ['*all']);
    const bean: Record<string, unknown> = {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: issue.id,
      self: `${this.api('3')}/issue/${issue.id}`,
      key: issue.key,
      fields,
    };
    if (expand.has('names')) {
      bean.names = Object.fromEntries(Object.keys(fields).filter((k) => this.state.fields.has(k)).map((k) => [k, (this.state.fields.get(k) as SandboxField).name]));
    }
    if (expand.has('schema')) {
      bean.schema = Object.fromEntries(
        Object.keys(fields)
          .filter((k) => this.state.fields.has(k))
          .map((k) => [k, this.field(this.state.fields.get(k) as SandboxField).schema]),
      );
    }
    if (expand.has('transitions')) bean.transitions = this.state.transitionsFor(issue).map((t) => this.transition(t));
    if (expand.has('changelog')) {
      const histories = [...issue.changelog].reverse().map((c) => this.changelog(c));
      bean.changelog = { startAt: 0, maxResults: histories.length, total: histories.length, histories };
    }
    if (expand.has('renderedFields')) {
      bean.renderedFields = { description: issue.description === null ? null : `<p>${adfToText(issue.description)}</p>` };
    }
    const props = (options.properties ?? []).flatMap((p) => p.split(',')).map((p) => p.trim()).filter(Boolean);
    if (props.length) {
      const all = props.includes('*all');
      bean.properties = Object.fromEntries([...issue.properties].filter(([k]) => all || props.includes(k)));
    }
    return bean;
  }

  /** The issue as admin webhooks carry it (v2 shape). */
  webhookIssue(issue: SandboxIssue): Record<string, unknown> {
    return { id: issue.id, self: `${this.api('2')}/issue/${issue.id}`, key: issue.key, fields: this.issueFields(issue, '2') };
  }

  /** The short issue shape of comment webhooks. */
  webhookIssueShort(issue: SandboxIssue): Record<string, unknown> {
    const all = this.issueFields(issue, '2');
    return {
      id: issue.id,
      self: `${this.api('2')}/issue/${issue.id}`,
      key: issue.key,
      fields: { summary: all.summary, issuetype: all.issuetype, project: all.project, assignee: all.assignee, priority: all.priority, status: all.status },
    };
  }

  /** A changelog as webhooks carry it (`id`, `items`; items keep Jira's tmp account ids for users). */
  webhookChangelog(c: SandboxChangelog): Record<string, unknown> {
    return {
      id: c.id,
      items: c.items.map((i) =>
        i.fieldId === 'assignee' || i.fieldId === 'reporter' ? { ...i, tmpFromAccountId: i.from, tmpToAccountId: i.to } : { ...i },
      ),
    };
  }

  // -------------------------------------------------------------------------------------------
  // JSM

  /** JSM date (`DateDTO`). */
  jsmDate(d: Date): Record<string, unknown> {
    return { iso8601: d.toISOString().replace(/\.\d{3}Z$/, '+0000'), jira: jiraDate(d), friendly: d.toUTCString(), epochMillis: d.getTime() };
  }

  /** JSM user (`UserDTO`). */
  jsmUser(u: SandboxUser): Record<string, unknown> {
    return {
      accountId: u.accountId,
      ...(u.emailAddress ? { emailAddress: u.emailAddress } : {}),
      displayName: u.displayName,
      active: u.active,
      timeZone: u.timeZone,
      _links: {
        jiraRest: `${this.api('2')}/user?accountId=${encodeURIComponent(u.accountId)}`,
        avatarUrls: this.avatarUrls(u.accountId),
        self: `${this.api('2')}/user?accountId=${encodeURIComponent(u.accountId)}`,
      },
    };
  }

  /** JSM approval (`ApprovalDTO`); `canAnswerApproval` is for the caller. */
  approval(issue: SandboxIssue, a: SandboxApproval, callerId: string | undefined): Record<string, unknown> {
    return {
      id: a.id,
      name: a.name,
      finalDecision: a.finalDecision,
      canAnswerApproval: a.finalDecision === 'pending' && a.approvers.some((x) => x.accountId === callerId && x.decision === 'pending'),
      approvers: a.approvers.map((x) => ({ approver: this.jsmUser(this.state.user(x.accountId)), approverDecision: x.decision })),
      createdDate: this.jsmDate(a.created),
      ...(a.completed ? { completedDate: this.jsmDate(a.completed) } : {}),
      _links: { self: `${this.baseUrl}/rest/servicedeskapi/request/${issue.id}/approval/${a.id}` },
    };
  }

  /** JSM paged list (`PagedDTO...`). */
  jsmPage(values: unknown[], start: number, limit: number, selfPath: string): Record<string, unknown> {
    const page = values.slice(start, start + limit);
    return {
      _expands: [],
      size: page.length,
      start,
      limit,
      isLastPage: start + page.length >= values.length,
      _links: { base: `${this.baseUrl}/rest/servicedeskapi`, context: '', self: `${this.baseUrl}${selfPath}` },
      values: page,
    };
  }

  /** JSM request type (`RequestTypeDTO`). */
  requestType(rt: SandboxRequestType): Record<string, unknown> {
    return {
      _links: { self: `${this.baseUrl}/rest/servicedeskapi/servicedesk/${rt.serviceDeskId}/requesttype/${rt.id}` },
      id: rt.id,
      name: rt.name,
      description: rt.description,
      helpText: rt.helpText,
      issueTypeId: rt.issueTypeId,
      serviceDeskId: rt.serviceDeskId,
      portalId: rt.serviceDeskId,
      groupIds: [],
      icon: { id: '10400', _links: { iconUrls: { '48x48': `${this.baseUrl}/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/10400?size=large` } } },
    };
  }

  /** JSM request type fields (`CustomerRequestCreateMetaDTO`). */
  requestTypeFields(rt: SandboxRequestType): Record<string, unknown> {
    const sd = this.state.serviceDesk(rt.serviceDeskId);
    const entries =
      rt.fields === 'screen'
        ? [...new Set(this.state.projectScreens().flatMap((s) => s.tabs.flatMap((t) => t.fieldIds)))]
            .filter((id) => {
              const f = this.state.fields.get(id);
              return f && (!f.custom || this.state.applicableContext(f, sd.projectId, rt.issueTypeId)) && id !== 'issuetype' && id !== 'reporter' && id !== 'assignee';
            })
            .map((fieldId) => ({ fieldId, required: fieldId === 'summary' }))
        : rt.fields;
    return {
      canRaiseOnBehalfOf: true,
      canAddRequestParticipants: true,
      requestTypeFields: entries.map(({ fieldId, required }) => {
        const f = this.state.field(fieldId);
        const ctx = f.custom ? this.state.applicableContext(f, sd.projectId, rt.issueTypeId) : undefined;
        const schema = this.field(f).schema as Record<string, unknown>;
        return {
          fieldId,
          name: f.name,
          description: f.description ?? '',
          required,
          defaultValues: [],
          validValues: (ctx?.options ?? []).filter((o) => !o.disabled && !o.optionId).map((o) => ({ value: o.id, label: o.value, children: [] })),
          jiraSchema: schema,
          visible: true,
        };
      }),
    };
  }
}
