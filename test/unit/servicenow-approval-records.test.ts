/**
 * Approval records follow the request; once this process closed the records of ours still
 * requested (the request no longer awaiting approval), it does not read them again for that
 * request, until the request awaits approval again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Request, RequestState } from '../../src/engine/model.ts';
import type { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import type { ServiceNowClient, ServiceNowRow, TableQuery } from '../../src/surfaces/servicenow/client.ts';
import { ServiceNowApprovalRecords } from '../../src/surfaces/servicenow/approval-records.ts';

const RITM = 'r'.repeat(32);

/** An instance holding approval records, and an id store, in memory; every call logged. */
function world() {
  const records: ServiceNowRow[] = [];
  const calls: string[] = [];
  const byKey = new Map<string, string>();
  const client = {
    list: async (table: string, _q: TableQuery) => {
      calls.push(`GET ${table}`);
      return records.filter((r) => r.state === 'requested').map((r) => ({ ...r }));
    },
    create: async (table: string, values: Record<string, string>) => {
      calls.push(`POST ${table}`);
      const row = { ...values, sys_id: `rec${records.length}` };
      records.push(row);
      return row;
    },
    update: async (table: string, sysId: string, values: Record<string, string>) => {
      calls.push(`PATCH ${table}`);
      Object.assign(records.find((r) => r.sys_id === sysId)!, values);
      return {};
    },
  } as unknown as ServiceNowClient;
  const ids = {
    get: async (_s: string, key: string) => byKey.get(key),
    set: async (_s: string, key: string, id: string) => void byKey.set(key, id),
    keysOf: async (_s: string, sysIds: string[]) => sysIds.map((id) => [...byKey].find(([, v]) => v === id)?.[0]),
  } as unknown as SurfaceIdStore;
  const approvals = new ServiceNowApprovalRecords({ client, ids, people: { groupMembers: async () => ['ann', 'bob'] } });
  return { records, calls, approvals };
}

/** Request req_1 with the states it went through (the last is where it is now). */
function request(...states: RequestState[]): Request {
  return {
    id: 'req_1',
    state: states.at(-1)!,
    actor: { id: 'dev' },
    history: states.map((to, i) => ({ from: i ? states[i - 1]! : null, to, at: '2026-11-24T09:00:00Z' })),
    decisions: [{ outcome: 'needs_approval', approvers: { groups: ['platform-approvers'] } }],
  } as unknown as Request;
}

test('closed once, not read again for that request; read again once it awaits approval again', async () => {
  const { records, calls, approvals } = world();
  await approvals.sync(request('received', 'awaiting_approval'), RITM);
  assert.deepEqual(records.map((r) => [r.approver, r.state]), [['ann', 'requested'], ['bob', 'requested']]);
  records[0]!.state = 'approved';
  await approvals.sync(request('received', 'awaiting_approval', 'approved'), RITM);
  assert.deepEqual(records.map((r) => r.state), ['approved', 'cancelled'], "bob's record is No Longer Required");
  calls.length = 0;
  await approvals.sync(request('received', 'awaiting_approval', 'approved', 'applying', 'applied'), RITM);
  assert.deepEqual(calls, [], 'nothing of ours can be requested: not read');
  await approvals.sync(request('received', 'awaiting_approval', 'approved', 'awaiting_approval', 'rejected'), RITM);
  assert.deepEqual(calls, ['GET sysapproval_approver'], 'it awaited approval again since: read');
});
