import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/engine/errors.ts';
import { loadPeople, peopleOf, PersonResolver, type Directory, type DirectoryUser } from '../../src/policy/index.ts';

/** Writes `yaml` as a directory file in a fresh folder and loads it. */
async function loadYaml(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'identity-'));
  try {
    writeFileSync(join(dir, 'directory.yaml'), yaml);
    return await loadPeople(join(dir, 'directory.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A ServiceNow-like directory: users are asked by sys_id or user_name and answered by sys_id. */
function userNameDirectory(users: { sysId: string; userName: string; groups?: string[] }[]): Directory & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    getUser: async (id: string): Promise<DirectoryUser | null> => {
      asked.push(id);
      const u = users.find((x) => x.sysId === id || x.userName === id);
      return u ? { id: u.sysId, displayName: u.userName, active: true, groups: u.groups ?? [] } : null;
    },
  };
}

test('the example directory lists each person once, with their ids on every surface', async () => {
  const people = await loadPeople('examples/directory.yaml');
  const dana = people.get('dana')!;
  assert.equal(dana.displayName, 'Dana Developer');
  assert.deepEqual(dana.roles, ['requester'], 'requester is the default role');
  assert.equal(people.bySurfaceId('jira', '712020:dev-dana'), dana);
  assert.equal(people.bySurfaceId('servicenow', 'dana.developer'), dana);
  assert.equal(people.bySurfaceId('cli', 'dana'), dana);
  assert.equal(people.byEmail('DANA@example.com'), dana, 'emails compare without case');
  assert.deepEqual(people.get('quinn')!.roles, ['admin']);
  assert.equal(people.bySurfaceId('cli', 'platform-admin')!.id, 'quinn', 'a person may have several CLI users');
  assert.deepEqual(people.get('erin')!.roles, ['reader']);
  assert.equal(people.get('former')!.active, false);
});

test('an id naming two people stops the load, naming the id and both people', async () => {
  const twice = `people:
  - { id: dana, ids: { jira: 'acc-1' } }
  - { id: ari, ids: { jira: 'acc-1' } }
`;
  await assert.rejects(loadYaml(twice), (e: unknown) => e instanceof ConfigError && e.variable === 'DIRECTORY_FILE' && /jira id "acc-1" is listed for both dana and ari/.test(e.message));
  const email = `people:
  - { id: dana, email: dana@example.com }
  - { id: dee, email: Dana@Example.com }
`;
  await assert.rejects(loadYaml(email), /email "dana@example.com" is listed for both dana and dee/);
  // The CLI id defaults to the person id, so another person claiming it collides too.
  const cli = `people:
  - { id: bo }
  - { id: bob, ids: { cli: bo } }
`;
  await assert.rejects(loadYaml(cli), /cli id "bo" is listed for both bo and bob/);
  await assert.rejects(loadYaml('people:\n  - { id: x }\n  - { id: x }\n'), /person id "x" is listed twice/);
});

test('approver is not a directory role: approvers are the members of the policy\'s groups', async () => {
  await assert.rejects(loadYaml('people:\n  - { id: ari, roles: [approver] }\n'), (e: unknown) => e instanceof ConfigError && /roles\/0 must be reader, requester or admin \(approvers are the members of the groups the policy names\)/.test(e.message));
});

test('the older users: list still loads, each person known to the CLI by their id', async () => {
  const people = await loadYaml('users:\n  - { id: ari, displayName: Ari, groups: [platform-approvers] }\n');
  assert.equal(people.bySurfaceId('cli', 'ari')!.displayName, 'Ari');
  assert.deepEqual(people.get('ari')!.groups, ['platform-approvers']);
});

test('the resolver finds the person behind an actor on every surface', async () => {
  const people = peopleOf([
    { id: 'dana', displayName: 'Dana', email: 'dana@example.com', ids: { jira: ['acc-dana'], servicenow: ['dana.developer'], cli: ['dkim'] } },
    { id: 'ari', displayName: 'Ari', email: 'ari@example.com' },
  ]);
  const sn = userNameDirectory([
    { sysId: 'a'.repeat(32), userName: 'dana.developer' },
    { sysId: 'b'.repeat(32), userName: 'ari.approver' },
  ]);
  const resolver = new PersonResolver(people, () => ({ servicenow: sn }));
  assert.equal((await resolver.personOf({ id: 'dana' }, 'http'))?.id, 'dana');
  assert.equal((await resolver.personOf({ id: 'dkim' }, 'cli'))?.id, 'dana');
  assert.equal(await resolver.personOf({ id: 'dana' }, 'cli'), undefined, 'the CLI knows Dana as dkim only');
  assert.equal((await resolver.personOf({ id: 'acc-dana' }, 'jira'))?.id, 'dana');
  // ServiceNow acts with sys_ids; the file lists a user_name, which ServiceNow's directory turns into the sys_id.
  assert.equal((await resolver.personOf({ id: 'a'.repeat(32) }, 'servicenow'))?.id, 'dana');
  // Not listed for ServiceNow at all: found by the email the ticket system gives.
  assert.equal((await resolver.personOf({ id: 'b'.repeat(32), email: 'ARI@example.com' }, 'servicenow'))?.id, 'ari');
  assert.equal(await resolver.personOf({ id: 'c'.repeat(32) }, 'servicenow'), undefined);
  assert.equal(await resolver.personOf({ id: 'acc-unknown' }, 'jira'), undefined);
  // The listed ids are looked up once, not per call.
  assert.deepEqual(sn.asked, ['dana.developer']);
  assert.deepEqual(await resolver.identify({ id: 'acc-dana', person: 'ari' }, 'jira'), { id: 'acc-dana', person: 'dana' }, 'a claimed person is replaced by the resolved one');
  assert.deepEqual(await resolver.identify({ id: 'nobody', person: 'ari' }, 'jira'), { id: 'nobody' }, 'and dropped when nobody is found');
});

test('two people whose listed ids are the same ServiceNow user are refused when first resolved', async () => {
  const people = peopleOf([
    { id: 'dana', ids: { servicenow: ['dana.developer'] } },
    { id: 'dee', ids: { servicenow: ['a'.repeat(32)] } },
  ]);
  const resolver = new PersonResolver(people, () => ({ servicenow: userNameDirectory([{ sysId: 'a'.repeat(32), userName: 'dana.developer' }]) }));
  await assert.rejects(resolver.personOf({ id: 'z'.repeat(32) }, 'servicenow'), (e: unknown) => e instanceof ConfigError && /servicenow user "a{32}" is listed for both dee and dana/.test(e.message));
});
