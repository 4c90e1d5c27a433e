/**
 * `ticket-surface doctor --surface servicenow` against the contract-checked sandbox: an instance
 * set up as the README says (forms synced, the webhook installed) passes with exit 0 and sees no
 * write; a misconfigured one (a Business Rule missing, one inactive, an ACL hiding a table, a role
 * missing, the URL property wrong, the clock off, wrong credentials for Basic and for OAuth) gets
 * each problem named with its fix and exit 1. Zero contract violations.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { FormCatalog } from '../../src/forms/catalog.ts';
import { EngineOptionSources } from '../../src/workflow/form-options.ts';
import { QueryCatalog } from '../../src/workflow/queries.ts';
import { ServiceNowClient } from '../../src/surfaces/servicenow/client.ts';
import { questionItem, ServiceNowFormsSync } from '../../src/surfaces/servicenow/forms-sync.ts';
import { repositoryStackItems } from '../../src/surfaces/servicenow/stack-item.ts';
import { serviceNowTools } from '../../src/surfaces/servicenow/tools.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed } from '../../sandbox/servicenow/example-seed.ts';
import { useRedis } from '../helpers/redis.ts';
import { useStagedEngine } from '../helpers/staged-engine.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const logger = createLogger('silent');
const SECRET = 'doctor-webhook-secret-1234';
const HOOK = 'https://ticket-surface.example.com/webhooks/servicenow';
const redis = useRedis();
const staged = useStagedEngine(redis, 'sn-doctor');
const sandboxes: ServiceNowSandbox[] = [];

after(async () => {
  for (const sb of sandboxes) await sb.stop();
});

/** An instance set up as the README says: the catalog synced and the webhook installed. */
async function configuredInstance(install = true): Promise<{ sb: ServiceNowSandbox; installed?: ReturnType<ServiceNowSandbox['installWebhook']> }> {
  const sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed() });
  sandboxes.push(sb);
  await new ServiceNowFormsSync({
    client: new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger }),
    ids: new SurfaceIdStore(staged.opened.redis.redis, `sn-doctor-${sandboxes.length}:`),
    forms: new FormCatalog(staged.opened.engine.registry, join(ROOT, 'forms')),
    options: new EngineOptionSources(staged.opened.engine),
    logger,
    extraItems: async () => [...(await repositoryStackItems(staged.opened.engine.registry)), questionItem(new QueryCatalog(staged.opened.engine).list())],
  }).sync();
  return { sb, ...(install ? { installed: sb.installWebhook({ url: HOOK }) } : {}) };
}

function envFor(sb: ServiceNowSandbox, login: Record<string, string> = { SERVICENOW_USER: sb.credentials.username, SERVICENOW_PASSWORD: sb.credentials.password }): NodeJS.ProcessEnv {
  return { SERVICENOW_INSTANCE_URL: sb.url, SERVICENOW_WEBHOOK_SECRET: SECRET, REDIS_URL: redis.url, DATA_DIR: staged.dataDir, LOG_LEVEL: 'silent', PATH: process.env.PATH, ...login };
}

async function doctorCli(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env, cwd: ROOT };
  const code = await main(['doctor', '--surface', 'servicenow'], io);
  return { code, out, err };
}

test('an instance set up as the README says passes every check, and the doctor writes nothing', { timeout: 120_000 }, async () => {
  const { sb } = await configuredInstance();
  const writesBefore = sb.writes().length;
  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 0, r.out + r.err);
  for (const check of ['credentials', 'clock', 'roles', 'tables', 'catalog', 'business rule', 'script include', 'script action', 'properties']) assert.match(r.out, new RegExp(`✔ ${check}:`), `${check} passed`);
  assert.match(r.out, /no problems/);
  assert.equal(sb.writes().length, writesBefore, 'read-only');
  assert.deepEqual(sb.violations(), []);
});

test('a missing rule, an inactive rule, an ACL hiding a table, a missing role, a wrong URL and a clock off are each named with a fix', { timeout: 120_000 }, async () => {
  const { sb, installed } = await configuredInstance();
  const sys = sb.state.systemUser;
  sb.state.delete('sys_script', installed!.rules.sysapproval_approver!, sys);
  sb.state.update('sys_script', installed!.rules.sc_req_item!, { active: false }, sys);
  sb.state.update('sys_properties', installed!.properties['x_ticket_surface.url']!, { value: 'https://old-host.example.com/hooks' }, sys);
  sb.denyAccess('sysapproval_approver', ['read']);
  const catalogAdmin = sb.state.all('sys_user_role').find((r) => r.name === 'catalog_admin')!;
  const grant = sb.state.all('sys_user_has_role').find((g) => g.user === sb.apiUser.sys_id && g.role === catalogAdmin.sys_id)!;
  sb.state.delete('sys_user_has_role', grant.sys_id!, sys);
  const item = sb.state.all('sc_cat_item').find((i) => (i.description ?? '').includes('(redis-cache)'))!;
  sb.state.update('sc_cat_item', item.sys_id!, { active: false }, sys);

  const skewed = new Date(Date.now() + 10 * 60_000);
  const engine = async () => staged.opened.engine;
  const report = await serviceNowTools.doctor!(loadConfig(envFor(sb)), { logger, now: () => skewed, engine });
  const by = (check: string) => report.problems.filter((p) => p.check === check);
  const rules = by('business rule').map((p) => p.problem).join('\n');
  assert.match(rules, /no Business Rule on sysapproval_approver calls TicketSurfaceWebhook/);
  assert.match(rules, /Business Rule "ticket-surface: requested item" on sc_req_item is inactive/);
  assert.match(by('business rule').find((p) => /inactive/.test(p.problem))!.fix, /tick Active/);
  assert.match(by('tables')[0]!.problem, /an ACL denies ticket\.surface reading sysapproval_approver/);
  assert.match(by('tables')[0]!.fix, /Access Control \(ACL\)/);
  assert.match(by('roles')[0]!.problem, /lacks the role catalog_admin/);
  assert.match(by('properties')[0]!.problem, /x_ticket_surface\.url is https:\/\/old-host\.example\.com\/hooks/);
  assert.match(by('catalog')[0]!.problem, /is inactive/);
  assert.match(by('catalog')[0]!.fix, /forms sync --surface servicenow/);
  const skew = /clock is (\d+) s ahead of the site's/.exec(by('clock')[0]?.problem ?? '');
  assert.ok(skew && Math.abs(Number(skew[1]) - 600) <= 2, JSON.stringify(by('clock')));
  assert.deepEqual(by('script include'), []);
  assert.deepEqual(sb.violations(), []);

  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 1);
  assert.match(r.out, /✘ business rule: .*\n {4}fix: /);
  assert.match(r.out, /✘ tables: /);
  assert.match(r.out, /problems found/);
});

test('an instance without the webhook installed names each missing piece', { timeout: 120_000 }, async () => {
  const { sb } = await configuredInstance(false);
  const r = await doctorCli(envFor(sb));
  assert.equal(r.code, 1);
  assert.match(r.out, /✘ business rule: no Business Rule on sc_req_item calls TicketSurfaceWebhook/);
  assert.match(r.out, /✘ script include: there is no Script Include TicketSurfaceWebhook/);
  assert.match(r.out, /✘ script action: no Script Action handles x_ticket_surface\.webhook/);
  assert.match(r.out, /✘ properties: x_ticket_surface\.url is not set/);
});

test('wrong credentials are named for Basic and for OAuth, nothing else is tried, and no secret is printed', { timeout: 60_000 }, async () => {
  const { sb } = await configuredInstance();
  let calls = sb.calls.length;
  const basic = await doctorCli(envFor(sb, { SERVICENOW_USER: sb.credentials.username, SERVICENOW_PASSWORD: 'not-the-password-at-all' }));
  assert.equal(basic.code, 1);
  assert.match(basic.out, /✘ credentials: ServiceNow refused the login/);
  assert.match(basic.out, /fix: set SERVICENOW_USER/);
  assert.ok(!(basic.out + basic.err).includes('not-the-password-at-all'));
  assert.ok(sb.calls.length - calls <= 2, 'stops after the credentials');

  calls = sb.calls.length;
  const oauth = await doctorCli(envFor(sb, { SERVICENOW_USER: sb.credentials.username, SERVICENOW_OAUTH_CLIENT_ID: sb.credentials.clientId, SERVICENOW_OAUTH_CLIENT_SECRET: 'not-the-client-secret' }));
  assert.equal(oauth.code, 1, oauth.out + oauth.err);
  assert.match(oauth.out, /✘ credentials: ServiceNow refused the login/);
  assert.match(oauth.out, /Application Registry/);
  assert.ok(!(oauth.out + oauth.err).includes('not-the-client-secret'));
  assert.equal(sb.calls.length, calls, 'no table was read');

  const good = await doctorCli(envFor(sb, { SERVICENOW_USER: sb.credentials.username, SERVICENOW_OAUTH_CLIENT_ID: sb.credentials.clientId, SERVICENOW_OAUTH_CLIENT_SECRET: sb.credentials.clientSecret }));
  assert.equal(good.code, 0, good.out + good.err);
  assert.match(good.out, /✔ credentials: OAuth \(client_credentials grant\) logs in as ticket-surface integration/);
  assert.deepEqual(sb.violations(), []);
});
