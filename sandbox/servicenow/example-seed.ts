/**
 * A ready-made ServiceNow instance for tests and the demo: the people of TICKET-UX.md (the same
 * roles as the Jira sandbox's example site), their groups, a database catalog item with the
 * variables the developer story answers, and a change blackout schedule.
 */
import type { ServiceNowSeed } from './state.ts';

/** user_names of the seeded people. */
export const PEOPLE = {
  developer: 'dana.developer',
  approver: 'ari.approver',
  secondApprover: 'bo.approver',
  inactiveApprover: 'former.approver',
  outsider: 'pat.product',
  releaseManager: 'rene.release',
} as const;

/** Password every seeded person has (they can use the API too). */
export const PEOPLE_PASSWORD = 'sandbox-person-password';

/** Names of the seeded groups. */
export const GROUPS = { platformApprovers: 'platform-approvers', releaseManagers: 'release-managers', developers: 'developers' } as const;

/** Name of the seeded database item. */
export const DATABASE_ITEM = 'PostgreSQL database';

/** The example instance. */
export function exampleSeed(): ServiceNowSeed {
  return {
    groups: [
      { name: GROUPS.platformApprovers, description: 'Approves infrastructure requests.' },
      { name: GROUPS.releaseManagers, description: 'Approves production promotions.' },
      { name: GROUPS.developers },
    ],
    users: [
      { user_name: PEOPLE.developer, name: 'Dana Developer', email: 'dana@example.com', password: PEOPLE_PASSWORD, groups: [GROUPS.developers] },
      { user_name: PEOPLE.approver, name: 'Ari Approver', email: 'ari@example.com', password: PEOPLE_PASSWORD, groups: [GROUPS.platformApprovers, GROUPS.developers] },
      { user_name: PEOPLE.secondApprover, name: 'Bo Approver', email: 'bo@example.com', password: PEOPLE_PASSWORD, groups: [GROUPS.platformApprovers] },
      { user_name: PEOPLE.inactiveApprover, name: 'Former Approver', email: 'former@example.com', password: PEOPLE_PASSWORD, groups: [GROUPS.platformApprovers], active: false },
      { user_name: PEOPLE.outsider, name: 'Pat Product', email: 'pat@example.com', password: PEOPLE_PASSWORD, groups: [] },
      { user_name: PEOPLE.releaseManager, name: 'Rene Release', email: 'rene@example.com', password: PEOPLE_PASSWORD, groups: [GROUPS.releaseManagers] },
    ],
    catalogItems: [
      {
        name: DATABASE_ITEM,
        short_description: 'A PostgreSQL database from the postgres-database bundle.',
        variables: [
          { name: 'environment', question_text: 'Environment', type: 5, mandatory: true, choices: [{ value: 'staging', text: 'Staging' }, { value: 'production', text: 'Production' }] },
          { name: 'data_size_gib', question_text: 'Expected data size (GiB)', type: 6, mandatory: true },
          { name: 'production_critical', question_text: 'Production-critical', type: 7, default_value: 'false' },
          { name: 'owner_team', question_text: 'Owner team', type: 6, mandatory: true },
        ],
      },
    ],
    blackouts: [{ name: 'Year-end freeze', time_zone: 'Europe/Berlin', spans: [{ name: 'Year-end freeze', start: '2026-12-20 00:00:00', end: '2027-01-05 00:00:00' }] }],
  };
}
