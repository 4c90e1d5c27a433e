/**
 * How the ServiceNow adapter maps answers, against the contract-checked sandbox: two catalog
 * items made by the forms sync whose list collectors share a variable name (`logs`) but offer
 * different choices (one value, `audit`, in both), and a date/time question.
 *
 * - Choices are scoped to their own variable: a list collector's qualifier names its variable's
 *   sys_id, so a person's picks are that item's choice rows; reading them back maps only that
 *   variable's choices, also when the id store has forgotten them (the instance is asked, filtered
 *   by the variable's sys_id), and never takes a choice of the other item.
 * - Date-times land in UTC, as the Table API stores them: a default of 2026-12-05T10:00:00+01:00
 *   becomes 2026-12-05 09:00:00, and a person in Paris who enters 10:00 is read back as 09:00Z.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonSchema } from '../../src/engine/model.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { buildForm, type Form } from '../../src/forms/index.ts';
import { parseOverlay } from '../../src/forms/overlay.ts';
import { FormValues } from '../../src/forms/values.ts';
import { ServiceNowClient } from '../../src/surfaces/servicenow/client.ts';
import { glideDateTimeOf, renderServiceNowForm } from '../../src/surfaces/servicenow/form-renderer.ts';
import { toServiceNowValue } from '../../src/surfaces/servicenow/form-values.ts';
import { ServiceNowFormsSync } from '../../src/surfaces/servicenow/forms-sync.ts';
import { RequestedItemAnswers } from '../../src/surfaces/servicenow/item-answers.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed, PEOPLE } from '../../sandbox/servicenow/example-seed.ts';
import { inlineBundle } from '../fixtures/forms/inline-bundle.ts';
import { useRedis } from '../helpers/redis.ts';

const logger = createLogger('silent');
const redis = useRedis();
let sb: ServiceNowSandbox;

/** A bundle whose `logs` list collector offers `choices`, with a date-time `window` defaulting to +01:00. */
function form(bundle: string, choices: string[]): Form {
  const params: JsonSchema = {
    type: 'object',
    properties: {
      logs: { type: 'array', title: 'Logs', uniqueItems: true, items: { type: 'string', enum: choices } },
      window: { type: 'string', title: 'Window', format: 'date-time', default: '2026-12-05T10:00:00+01:00' },
    },
  };
  const overlay = parseOverlay([`bundle: ${bundle}`, `title: ${bundle} item`, 'others: ask'].join('\n'), `forms/${bundle}.yaml`);
  return buildForm(inlineBundle(params, {}, bundle), overlay);
}

const FORMS: Record<string, Form> = { alpha: form('alpha', ['audit', 'query']), beta: form('beta', ['audit', 'error']) };
const forms = { all: async () => Object.values(FORMS), form: async (b: string) => FORMS[b]! };

function client(): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger });
}

function reader(prefix = 'ts:'): RequestedItemAnswers {
  return new RequestedItemAnswers({ client: client(), ids: new SurfaceIdStore(redis.client(), prefix), forms });
}

const field = (bundle: string, name: string) => FORMS[bundle]!.fields.find((f) => f.name === name)!;
const variableOf = (bundle: string, name: string) => sb.state.all('item_option_new').find((v) => v.name === name && sb.state.records.get(v.cat_item!)?.name === `${bundle} item`)!;
const choiceRow = (bundle: string, value: string) => sb.state.all('question_choice').find((c) => c.question === variableOf(bundle, 'logs').sys_id && c.value === value)!;
const itemId = (bundle: string) => sb.state.all('sc_cat_item').find((i) => i.name === `${bundle} item`)!.sys_id!;

before(async () => {
  await redis.ready();
  const seed = exampleSeed();
  sb = await startServiceNowSandbox({ contract: true, seed: { ...seed, users: [...(seed.users ?? []), { user_name: 'paris.dev', name: 'Paris Dev', time_zone: 'Europe/Paris' }] } });
  await new ServiceNowFormsSync({ client: client(), ids: new SurfaceIdStore(redis.client()), forms, options: { options: async () => [] }, logger }).sync();
});
after(async () => {
  await sb?.stop();
});

test('the two items: same-named list collectors, each with its own choices and a qualifier naming its own sys_id', () => {
  const a = variableOf('alpha', 'logs');
  const b = variableOf('beta', 'logs');
  assert.notEqual(a.sys_id, b.sys_id);
  assert.equal(a.reference_qual, `question=${a.sys_id}^inactive=false`);
  assert.equal(b.reference_qual, `question=${b.sys_id}^inactive=false`);
  assert.notEqual(choiceRow('alpha', 'audit').sys_id, choiceRow('beta', 'audit').sys_id, 'the shared value has a row per item');
  const rendered = renderServiceNowForm(FORMS.alpha!).variables.find((v) => v.record.name === 'logs')!.record;
  assert.equal(rendered.reference_qual, 'question={sys_id}^inactive=false', 'the rendering filters by its own variable, never by a name');
});

test('a person picks in each item: the rows of that item only, read back as that item\'s values', async () => {
  const alpha = sb.as(PEOPLE.developer).order(itemId('alpha'), { variables: { logs: ['audit', 'query'] } }).ritm;
  const beta = sb.as(PEOPLE.developer).order(itemId('beta'), { variables: { logs: ['audit', 'error'] } }).ritm;
  assert.equal(sb.state.variablesOf(alpha.sys_id!).logs, [choiceRow('alpha', 'audit').sys_id, choiceRow('alpha', 'query').sys_id].join(','));
  assert.equal(sb.state.variablesOf(beta.sys_id!).logs, [choiceRow('beta', 'audit').sys_id, choiceRow('beta', 'error').sys_id].join(','));
  assert.deepEqual((await reader().read(alpha.sys_id!, 'alpha')).answers.logs, ['audit', 'query']);
  assert.deepEqual((await reader().read(beta.sys_id!, 'beta')).answers.logs, ['audit', 'error']);
});

test('choices the id store does not know are looked up among the variable\'s own choices; another item\'s choice is not taken', async () => {
  const ritm = sb.as(PEOPLE.developer).order(itemId('alpha'), { variables: { logs: ['query'] } }).ritm;
  // Someone puts beta's "audit" row into alpha's variable (a script, an import): it is not one of alpha's choices.
  sb.as(PEOPLE.developer).editVariables(ritm.sys_id!, { logs: `${choiceRow('alpha', 'query').sys_id},${choiceRow('beta', 'audit').sys_id}` });
  assert.ok(sb.state.warnings.some((w) => w.includes(choiceRow('beta', 'audit').sys_id!) && /not offered by the list collector/.test(w)), 'the sandbox notes the foreign pick');
  // An id store that remembers the variables but none of their choices (lost, or choices made on the instance).
  const forgot = new SurfaceIdStore(redis.client(), 'ts-forgot:');
  for (const [key, id] of Object.entries(await new SurfaceIdStore(redis.client()).all('servicenow'))) if (key.startsWith('variable/')) await forgot.set('servicenow', key, id);
  const forgetful = reader('ts-forgot:');
  const callsBefore = sb.calls.length;
  const read = (await forgetful.read(ritm.sys_id!, 'alpha')).answers.logs as string[];
  assert.equal(read[0], 'query', 'found on the instance, filtered by the variable sys_id');
  assert.equal(read[1], choiceRow('beta', 'audit').sys_id, 'beta\'s choice stays a sys_id, so validation refuses it');
  const mapped = new FormValues(FORMS.alpha!).map({ logs: read });
  assert.ok(!mapped.ok, 'the foreign choice is an error, not "audit"');
  const lookups = sb.calls.slice(callsBefore).filter((c) => c.path === '/api/now/table/question_choice');
  assert.ok(lookups.length > 0 && lookups.every((c) => decodeURIComponent(c.query).includes(`question=${variableOf('alpha', 'logs').sys_id}`)), 'every lookup is filtered by the variable sys_id');
});

test('a date-time default given with +01:00 lands as 09:00:00 UTC, and is read back as that instant', async () => {
  assert.equal(variableOf('alpha', 'window').default_value, '2026-12-05 09:00:00');
  assert.equal(toServiceNowValue(field('alpha', 'window'), '2026-12-05T10:00:00+01:00'), '2026-12-05 09:00:00');
  assert.equal(glideDateTimeOf('2026-12-05T10:00:00Z'), '2026-12-05 10:00:00');
  const ritm = sb.as(PEOPLE.developer).order(itemId('alpha'), { variables: { logs: ['audit'] } }).ritm;
  assert.equal(sb.state.variablesOf(ritm.sys_id!).window, '2026-12-05 09:00:00');
  const window = (await reader().read(ritm.sys_id!, 'alpha')).answers.window;
  assert.equal(window, '2026-12-05 09:00:00');
  const mapped = new FormValues(FORMS.alpha!).map({ logs: ['audit'], window: window! });
  assert.ok(mapped.ok);
  assert.equal(Date.parse(mapped.params.window as string), Date.parse('2026-12-05T10:00:00+01:00'));
});

test('a person in Paris enters 10:00 in winter: stored as 09:00 UTC and read back as 09:00Z', async () => {
  const ritm = sb.as('paris.dev').order(itemId('alpha'), { variables: { logs: ['audit'], window: '2026-12-05 10:00:00' } }).ritm;
  assert.equal(sb.state.variablesOf(ritm.sys_id!).window, '2026-12-05 09:00:00');
  const mapped = new FormValues(FORMS.alpha!).map((await reader().read(ritm.sys_id!, 'alpha')).answers);
  assert.ok(mapped.ok);
  assert.equal(mapped.params.window, '2026-12-05T09:00:00Z');
});

test('a requested item\'s variables map back to form keys in one HMGET, with no HGET per variable', async () => {
  const ritm = sb.as(PEOPLE.developer).order(itemId('alpha'), { variables: { logs: ['audit'] } }).ritm;
  const counts = async () => {
    const out: Record<string, number> = {};
    for (const m of (await redis.client().info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };
  const answers = reader();
  const before = await counts();
  assert.deepEqual((await answers.read(ritm.sys_id!, 'alpha')).answers.logs, ['audit']);
  const after = await counts();
  assert.ok(sb.state.variablesOf(ritm.sys_id!).window, 'the item has more than one variable');
  assert.equal((after['hget'] ?? 0) - (before['hget'] ?? 0), 0);
  assert.equal((after['hmget'] ?? 0) - (before['hmget'] ?? 0), 1);
});

test('contract: zero violations', () => {
  assert.deepEqual(sb.violations(), [], sb.contract?.report());
  assert.deepEqual(sb.state.warnings.filter((w) => /list collector|date-time/.test(w) && !w.includes(choiceRow('beta', 'audit').sys_id!)), []);
});
