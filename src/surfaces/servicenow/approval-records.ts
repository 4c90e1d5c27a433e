/**
 * The `sysapproval_approver` records of a requested item follow its request: while the request
 * awaits approval every active member of each approver group (but the requester) has a requested
 * record bound to it (bound in the id store under `approval/<request>/<user>`); once it no longer
 * awaits approval (or a new revision replaced it) the records of ours still requested become
 * "No Longer Required". Records made by a flow or by hand are never touched.
 */
import type { Request } from '../../engine/model.ts';
import type { SurfaceIdStore } from '../../engine/surface-ids.ts';
import type { ServiceNowClient, ServiceNowRow } from './client.ts';
import type { ServiceNowDirectory } from './directory.ts';

const SURFACE = 'servicenow';

/** How many settled items this process remembers (the oldest is forgotten first: it is then read again). */
const SETTLED_LIMIT = 10_000;

/** Dependencies of {@link ServiceNowApprovalRecords}. */
export interface ServiceNowApprovalRecordsDeps {
  client: ServiceNowClient;
  ids: SurfaceIdStore;
  people: Pick<ServiceNowDirectory, 'groupMembers'>;
}

/** Keeps a requested item's approval records in step with its request. */
export class ServiceNowApprovalRecords {
  /**
   * Items whose records of ours this process last left with none requested: the request then
   * not awaiting approval, and how long its history was. Until that request awaits approval
   * again no record of ours can be requested (records are made only while it awaits), so they
   * are not read again. Another process's knowledge is not shared: it reads them once itself.
   */
  private readonly settled = new Map<string, { requestId: string; history: number }>();

  constructor(private readonly deps: ServiceNowApprovalRecordsDeps) {}

  /** Brings the approval records of item `ritmSysId` in step with `request` (see the module comment). */
  async sync(request: Request, ritmSysId: string): Promise<void> {
    const awaiting = request.state === 'awaiting_approval';
    if (!awaiting && this.isSettled(request, ritmSysId)) return;
    this.settled.delete(ritmSysId);
    const { records, boundTo } = await this.requested(ritmSysId);
    for (const r of records) {
      const bound = boundTo.get(r.sys_id!);
      if (bound === undefined) continue; // made by a flow or by hand: not ours to close
      if (bound !== request.id || !awaiting) await this.deps.client.update('sysapproval_approver', r.sys_id!, { state: 'cancelled' });
    }
    if (!awaiting) {
      this.settle(ritmSysId, { requestId: request.id, history: request.history.length });
      return;
    }
    await this.request(request, ritmSysId, records, boundTo);
  }

  /** True when this process settled the item for `request` and the request has not awaited approval since. */
  private isSettled(request: Request, ritmSysId: string): boolean {
    const s = this.settled.get(ritmSysId);
    return s !== undefined && s.requestId === request.id && !request.history.slice(s.history).some((h) => h.to === 'awaiting_approval');
  }

  private settle(ritmSysId: string, s: { requestId: string; history: number }): void {
    this.settled.set(ritmSysId, s);
    if (this.settled.size > SETTLED_LIMIT) this.settled.delete(this.settled.keys().next().value!);
  }

  /** The item's requested records, and the request each of ours is bound to (undefined: not ours). */
  private async requested(ritmSysId: string): Promise<{ records: ServiceNowRow[]; boundTo: Map<string, string | undefined> }> {
    const records = await this.deps.client.list('sysapproval_approver', { query: `sysapproval=${ritmSysId}^state=requested`, fields: ['sys_id', 'approver'] });
    const boundTo = new Map<string, string | undefined>();
    const keys = await this.deps.ids.keysOf(SURFACE, records.map((r) => r.sys_id!));
    for (const [i, r] of records.entries()) {
      const key = keys[i];
      boundTo.set(r.sys_id!, key?.startsWith('approval/') ? key.split('/')[1] : undefined);
    }
    return { records, boundTo };
  }

  /** A requested record for every approver of `request` without one (one requested by hand for them is adopted). */
  private async request(request: Request, ritmSysId: string, records: ServiceNowRow[], boundTo: Map<string, string | undefined>): Promise<void> {
    const { client, ids } = this.deps;
    const groups = [...new Set(request.decisions.filter((d) => d.outcome === 'needs_approval').flatMap((d) => d.approvers?.groups ?? []))];
    for (const group of groups) {
      for (const user of await this.deps.people.groupMembers(group)) {
        if (!user || user === request.actor.id) continue;
        const key = `approval/${request.id}/${user}`;
        if (await ids.get(SURFACE, key)) continue;
        const adoptable = records.find((r) => r.approver === user && (boundTo.get(r.sys_id!) ?? request.id) === request.id);
        const record = adoptable ?? (await client.create('sysapproval_approver', { approver: user, state: 'requested', sysapproval: ritmSysId, document_id: ritmSysId, source_table: 'sc_req_item', approval_source: group }));
        await ids.set(SURFACE, key, record.sys_id!);
      }
    }
  }
}
