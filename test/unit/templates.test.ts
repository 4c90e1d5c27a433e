import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageRenderer, MESSAGE_NAMES, type MessageName } from '../../src/surfaces/shared/messages.ts';
import { TemplateEngine, TemplateError } from '../../src/surfaces/shared/template-engine.ts';
import { inlineText, type Block } from '../../src/surfaces/shared/blocks.ts';
import { buildArtifactView, buildRequestView } from '../../src/surfaces/shared/request-view.ts';
import { renderJiraComment, JIRA_COMMENT_LIMIT, adfText } from '../../src/surfaces/jira/adf.ts';
import { renderText, renderWorkNote } from '../../src/surfaces/servicenow/text-renderer.ts';
import { goldenCases, request, change, ARTIFACT_PASSWORD, JIRA_HINTS, openWindow, postgresDefinition } from '../fixtures/golden/views.ts';

const GOLDEN = new URL('../fixtures/golden/', import.meta.url);
const renderer = new MessageRenderer();

/** Masks what legitimately changes between runs: ids, instants, durations. */
function mask(s: string): string {
  return s
    .replace(/\breq_[A-Za-z0-9]+/g, '<request-id>')
    .replace(/\bdep_[A-Za-z0-9]+/g, '<deployment-id>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?/g, '<instant>')
    .replace(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/g, '<utc-time>')
    .replace(/\bin \d+(\.\d+)? (s|min|h \d+ min|d \d+ h)\b/g, 'in <duration>');
}

function compareGolden(file: string, actual: string): void {
  const url = new URL(file, GOLDEN);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(fileURLToPath(GOLDEN), { recursive: true });
    writeFileSync(url, actual);
    return;
  }
  assert.ok(existsSync(url), `golden file ${file} is missing; run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(url, 'utf8'), `${file} differs from its golden file (UPDATE_GOLDEN=1 rewrites it)`);
}

describe('golden ticket messages', () => {
  for (const [name, c] of Object.entries(goldenCases())) {
    test(`${name}: ADF and work-note text match the golden files`, () => {
      const blocks = renderer.render(c.template as MessageName, { view: c.view, event: c.event });
      const adf = renderJiraComment(blocks);
      compareGolden(`${name}.adf.json`, mask(JSON.stringify(adf.doc, null, 2)) + '\n');
      compareGolden(`${name}.txt`, mask(renderText(blocks)) + '\n');
      assert.equal(adf.shrunk, false);
    });
  }

  test('every message name has a template and renders without throwing for every case view', () => {
    const cases = Object.values(goldenCases());
    for (const name of MESSAGE_NAMES) {
      for (const c of cases) assert.ok(Array.isArray(renderer.render(name, { view: c.view, event: c.event })));
    }
  });
});

describe('content per TICKET-UX', () => {
  const cases = goldenCases();
  const text = (name: string): string => {
    const c = cases[name]!;
    return renderText(renderer.render(c.template as MessageName, { view: c.view, event: c.event }));
  };

  test('status comment: header, plan summary line, resource table, policy, window, approve hint, marker', () => {
    const t = text('status-awaiting-approval');
    assert.match(t, /^ticket-surface · request req_01JD8Q2W5Z3K · revision 1 · AWAITING APPROVAL$/m);
    assert.match(t, /Plan for checkout-staging-orders-db \(postgres-database 1\.4\.0\)/);
    assert.match(t, /3 to add · 0 to change · 0 to destroy · cost \+\$38\.40\/month/);
    assert.match(t, /\| add +\| postgresql_grant\.app_all +\|/);
    assert.match(t, /✔ Expected data size within the staging limit \(200 GiB\)/);
    assert.match(t, /… needs 1 approval from platform-approvers \(not the requester\)/);
    assert.match(t, /Change window for staging: open now/);
    assert.match(t, /To approve: move this issue to "Approved"\./);
    assert.match(t, /ts:status:req_01JD8Q2W5Z3K\s*$/);
  });

  test('promotion: versions, ±$0, next window and "applies when the window opens"', () => {
    const t = text('status-promote-next-window');
    assert.match(t, /Promote checkout-api 2\.13\.2 → 2\.14\.0 in production/);
    assert.match(t, /0 to add · 1 to change · 0 to destroy · cost ±\$0/);
    assert.match(t, /Next production window: Wed 2026-11-25 10:00–16:00 Europe\/Berlin \(in 23 h 0 min\)\./);
    assert.match(t, /Approved now, it applies when the window opens\./);
  });

  test('destructive change: warning panel naming the replaced address, in ADF a warning panel', () => {
    const c = cases['status-destructive']!;
    const blocks = renderer.render('status', { view: c.view });
    const panel = blocks.find((b) => b.type === 'panel');
    assert.ok(panel && panel.type === 'panel' && panel.kind === 'warning');
    assert.match(renderText([panel]), /This change REPLACES postgresql_database\.main\. Its data is lost unless restored from a backup\. Approvers see this warning too\./);
    const doc = renderJiraComment(blocks).doc;
    assert.ok(doc.content.some((n) => n.type === 'panel' && n.attrs?.panelType === 'warning'));
  });

  test('validation errors are listed by label with what was entered', () => {
    const t = text('status-invalid');
    assert.match(t, /✘ This request cannot be planned yet\. 2 answers need a change:/);
    assert.match(t, /• Expected data size \(GiB\): must be at least 10 \(you entered 2\)/);
    assert.match(t, /• Owner team: required$/m);
    assert.match(t, /Edit the fields on this issue; the plan is recomputed automatically\./);
    assert.doesNotMatch(t, /to add/);
  });

  test('result shows non-sensitive artifact fields and the "not shown here" line, never the password', () => {
    const c = cases['status-applied']!;
    for (const name of ['status', 'applied'] as const) {
      const blocks = renderer.render(name, { view: c.view });
      const t = renderText(blocks);
      const adf = JSON.stringify(renderJiraComment(blocks).doc);
      assert.match(t, /✔ Applied in 4\.2 s \(deployment dep_01JD8QZZ, 2026-11-24 10:14 UTC\)/);
      assert.match(t, /hostname 127\.0\.0\.1 · port 5432 · username checkout_app/);
      assert.match(t, /password: not shown here\. It reaches connected packages directly; to read it: ticket-surface artifact show checkout-staging-orders-db authentication --reveal \(audited\)/);
      assert.ok(!t.includes(ARTIFACT_PASSWORD) && !adf.includes(ARTIFACT_PASSWORD), 'the password leaked');
    }
    assert.ok(!JSON.stringify(c.view).includes(ARTIFACT_PASSWORD), 'the password is in the view itself');
  });

  test('failure: step, redacted excerpt, what was left, what to do next', () => {
    const t = text('status-failed');
    assert.match(t, /✘ Failed at step src: tofu apply exited with status 1/);
    assert.match(t, /could not connect: password=\[redacted\] host=127\.0\.0\.1/);
    assert.ok(!t.includes(ARTIFACT_PASSWORD));
    assert.match(t, /Left as it was: Steps before the failed one stayed applied/);
    assert.match(t, /What to do next: Retry with a comment \/apply\. Or: Edit the fields/);
  });

  test('answer renders the query as a table with the footer', () => {
    const t = text('answer');
    assert.match(t, /\| 1 +\| checkout \/ production +\| \$1,240\.00 +\| orders-db \$620 · cache \$180 · api \$140 +\|/);
    assert.match(t, /Asked by Dana Developer\. 12 more stacks: ticket-surface query most-expensive --top 15/);
  });

  test('approval events', () => {
    assert.match(text('approval-counted'), /✔ Approved by Riley Release \(release-managers\) for plan 9f2c4e1a\.\nScheduled for Wed 2026-11-25 10:00 Europe\/Berlin \(09:00 UTC\)\./);
    assert.match(text('approval-refused'), /✘ Approval by Dana Developer not counted: the requester cannot approve their own request\./);
    assert.match(text('moved'), /↻ Moved: a blackout \(Black Friday freeze\) now covers Wed; rescheduled to Thu 2026-11-26 10:00 Europe\/Berlin \(09:00 UTC\)\./);
  });
});

describe('template engine', () => {
  test('variables, dotted names, sections over lists, inverted sections, partials and standalone tags', () => {
    const engine = new TemplateEngine({
      main: '# Hi {{who.name}}\n\n{{#items}}\n- {{.}}\n{{/items}}\n{{^items}}\nnothing\n{{/items}}\n{{> foot}}\n',
      foot: 'by **{{who.name}}**\n',
    });
    const full = engine.render('main', { who: { name: 'Ann' }, items: ['a', 'b'] });
    assert.deepEqual(
      full.map((b) => b.type),
      ['heading', 'bulletList', 'paragraph'],
    );
    assert.equal(full[1]!.type === 'bulletList' && full[1]!.items.length, 2);
    const empty = engine.render('main', { who: { name: 'Ann' }, items: [] });
    assert.equal(renderText(empty), '\nHi Ann\nnothing\nby Ann'.trim());
  });

  test('substituted values are never parsed as markup', () => {
    const engine = new TemplateEngine({ t: '| a | b |\n|---|---|\n| {{v}} | x |\n\n{{v}} and [link]({{url}})\n' });
    const evil = '| injected | row |\n# heading\n:::error\n**bold** `code` [[X|red]]';
    const blocks = engine.render('t', { v: evil, url: 'javascript:alert(1)' });
    assert.deepEqual(
      blocks.map((b) => b.type),
      ['table', 'paragraph'],
    );
    const table = blocks[0]!;
    assert.ok(table.type === 'table');
    assert.equal(table.rows.length, 1);
    assert.equal(table.header.length, 2);
    const para = blocks[1]!;
    assert.ok(para.type === 'paragraph');
    assert.ok(para.content.every((i) => i.type !== 'status' && !(i.type === 'text' && (i.bold || i.code || i.href))));
    assert.match(inlineText(para.content), /\*\*bold\*\* `code` \[\[X\|red\]\]/);
    assert.match(inlineText(para.content), /link \(javascript:alert\(1\)\)/);
  });

  test('broken templates fail at load with the template name and line', () => {
    assert.throws(() => new TemplateEngine({ bad: 'a\n{{#x}}\nb\n' }), (e: unknown) => e instanceof TemplateError && /bad: line 2: \{\{#x\}\} is never closed/.test(e.message));
    assert.throws(() => new TemplateEngine({ bad: '{{#x}}{{/y}}' }), /closes \{\{#x\}\}/);
    assert.throws(() => new TemplateEngine({ bad: '{{> nope}}' }), /unknown template "nope"/);
    assert.throws(() => new TemplateEngine({ bad: ':::purple\nx\n:::\n' }).render('bad', {}), /unknown panel kind/);
  });
});

describe('size limits', () => {
  const manyResources = (n: number, action: 'add' | 'replace') =>
    Array.from({ length: n }, (_, i) => change(`module.shard_${String(i).padStart(4, '0')}.postgresql_database.partition_with_a_long_name_${i}`, action));

  test('a 5,000-resource plan stays under 32,767 characters, says how many rows were left out, keeps header and marker', () => {
    const resources = manyResources(5000, 'add');
    const view = buildRequestView(
      request({ plan: { deploymentId: 'd', hash: 'h'.repeat(16), summary: { add: 5000, change: 0, destroy: 0, replace: 0, destructive: false, resources }, costMonthlyAfter: 1 } }),
      { packageName: 'big', hints: JIRA_HINTS, window: openWindow() },
    );
    const blocks = renderer.render('status', { view });
    const full = JSON.stringify(renderJiraComment(blocks, Number.MAX_SAFE_INTEGER).doc).length;
    assert.ok(full > JIRA_COMMENT_LIMIT * 10, `the unshrunk comment is only ${full} characters`);
    const out = renderJiraComment(blocks);
    const size = JSON.stringify(out.doc).length;
    assert.ok(size <= JIRA_COMMENT_LIMIT, `${size} > ${JIRA_COMMENT_LIMIT}`);
    assert.equal(out.size, size);
    assert.ok(out.shrunk);
    const text = adfText(out.doc);
    const table = out.doc.content.find((n) => n.type === 'table')!;
    const shown = table.content!.length - 1;
    assert.ok(shown > 10, `only ${shown} rows kept`);
    assert.match(text, new RegExp(`${5000 - shown} more resources: see the attached plan`));
    assert.ok(text.startsWith('ticket-surface · request req_01JD8Q2W5Z3K'));
    assert.ok(text.trimEnd().endsWith('ts:status:req_01JD8Q2W5Z3K'));
    assert.match(text, /To approve: move this issue to "Approved"\./, 'the approval hint after the table was dropped');
  });

  test('5,000 replacements: both the table and the warning list shrink, the warning stays', () => {
    const resources = manyResources(5000, 'replace');
    const view = buildRequestView(
      request({ plan: { deploymentId: 'd', hash: 'h'.repeat(16), summary: { add: 0, change: 0, destroy: 0, replace: 5000, destructive: true, resources } } }),
      { packageName: 'big', hints: JIRA_HINTS },
    );
    const out = renderJiraComment(renderer.render('status', { view }));
    assert.ok(JSON.stringify(out.doc).length <= JIRA_COMMENT_LIMIT);
    const text = adfText(out.doc);
    assert.match(text, /This change destroys or replaces 5000 resources/);
    assert.match(text, /\d+ more destroyed or replaced resources/);
  });

  test('ServiceNow work notes honour a configurable limit', () => {
    const resources = manyResources(400, 'add');
    const view = buildRequestView(request({ plan: { deploymentId: 'd', hash: 'h'.repeat(16), summary: { add: 400, change: 0, destroy: 0, replace: 0, destructive: false, resources } } }), {
      packageName: 'big',
    });
    const blocks = renderer.render('status', { view });
    assert.ok(renderText(blocks).length > 32_000);
    const dflt = renderWorkNote(blocks);
    assert.ok(dflt.text.length <= 32_000 && dflt.shrunk);
    const small = renderWorkNote(blocks, 3_000);
    assert.ok(small.text.length <= 3_000, `${small.text.length}`);
    assert.match(small.text, /\d+ more resources/);
    assert.ok(small.text.endsWith('ts:status:req_01JD8Q2W5Z3K'));
  });

  test('a long failure excerpt keeps its tail', () => {
    const excerpt = Array.from({ length: 3000 }, (_, i) => `line ${i} of the provisioner output`).join('\n') + '\nError: the real cause';
    const view = buildRequestView(request({ state: 'failed', error: { step: 'src', message: 'boom', excerpt } }), {});
    const out = renderJiraComment(renderer.render('failed', { view }));
    assert.ok(JSON.stringify(out.doc).length <= JIRA_COMMENT_LIMIT);
    const t = adfText(out.doc);
    assert.match(t, /Error: the real cause/);
    assert.match(t, /earlier lines omitted/);
  });
});

describe('sensitive values', () => {
  test('artifact views drop $md.sensitive fields (also under *) and secret-looking keys, keeping their names', () => {
    const v = buildArtifactView({
      name: 'authentication',
      definition: { name: 'x', sensitivePointers: ['/data/users/*/password'] },
      value: { data: { host: 'h', users: [{ name: 'a', password: 'p-one-secret' }], api_token: 'tok-123456' } },
    });
    assert.deepEqual(v.hidden.sort(), ['api_token', 'password']);
    assert.deepEqual(v.fields, [
      { key: 'host', value: 'h' },
      { key: 'name', value: 'a' },
    ]);
    assert.ok(!JSON.stringify(v).includes('p-one-secret') && !JSON.stringify(v).includes('tok-123456'));
  });

  test('a password in any user-supplied value is scrubbed when passed as a known secret', () => {
    const view = buildRequestView(request({ actor: { id: 'x', displayName: `Eve ${ARTIFACT_PASSWORD}` } }), {});
    const blocks: Block[] = renderer.render('answer', { view, secrets: [ARTIFACT_PASSWORD] });
    assert.ok(!renderText(blocks).includes(ARTIFACT_PASSWORD));
  });

  test('the definition used in the goldens really marks the password sensitive', () => {
    assert.deepEqual(postgresDefinition().sensitivePointers, ['/data/authentication/password']);
  });
});
