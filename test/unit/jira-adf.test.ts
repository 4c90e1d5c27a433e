import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MessageRenderer, type MessageName } from '../../src/surfaces/shared/messages.ts';
import { renderAdf, renderJiraComment, adfText, type AdfNode } from '../../src/surfaces/jira/adf.ts';
import type { Block } from '../../src/surfaces/shared/blocks.ts';
import { goldenCases } from '../fixtures/golden/views.ts';

// What Jira Cloud accepts in a comment, for the nodes this renderer uses (ADF schema rules).
const BLOCK_CHILDREN: Record<string, string[]> = {
  doc: ['paragraph', 'heading', 'table', 'panel', 'bulletList', 'codeBlock', 'rule'],
  panel: ['paragraph', 'heading', 'bulletList', 'codeBlock', 'rule'],
  table: ['tableRow'],
  tableRow: ['tableHeader', 'tableCell'],
  tableHeader: ['paragraph'],
  tableCell: ['paragraph'],
  bulletList: ['listItem'],
  listItem: ['paragraph', 'bulletList'],
};
const INLINE = ['text', 'hardBreak', 'status'];
const INLINE_PARENTS = ['paragraph', 'heading'];

function check(node: AdfNode, path: string, problems: string[]): void {
  const allowed = BLOCK_CHILDREN[node.type] ?? (INLINE_PARENTS.includes(node.type) ? INLINE : node.type === 'codeBlock' ? ['text'] : []);
  for (const [i, child] of (node.content ?? []).entries()) {
    const at = `${path}/content/${i}`;
    if (!allowed.includes(child.type)) problems.push(`${at}: ${child.type} not allowed in ${node.type}`);
    if (child.type === 'text') {
      if (!child.text) problems.push(`${at}: empty text`);
      const marks = (child.marks ?? []).map((m) => m.type);
      if (marks.includes('code') && marks.some((m) => m !== 'code' && m !== 'link')) problems.push(`${at}: code combined with ${marks}`);
      if (node.type === 'codeBlock' && marks.length) problems.push(`${at}: marks in codeBlock`);
      for (const m of child.marks ?? []) if (m.type === 'link' && !/^https?:\/\//.test(String(m.attrs?.href))) problems.push(`${at}: bad href`);
    }
    if (child.type === 'status' && !['neutral', 'purple', 'blue', 'red', 'yellow', 'green'].includes(String(child.attrs?.color))) problems.push(`${at}: bad colour`);
    if (child.type === 'panel' && !['info', 'success', 'warning', 'error', 'note'].includes(String(child.attrs?.panelType))) problems.push(`${at}: bad panelType`);
    check(child, at, problems);
  }
}

describe('ADF rendering', () => {
  const renderer = new MessageRenderer();
  for (const [name, c] of Object.entries(goldenCases())) {
    test(`${name}: only nodes and marks Jira accepts, in allowed places`, () => {
      const doc = renderJiraComment(renderer.render(c.template as MessageName, { view: c.view, event: c.event })).doc;
      assert.equal(doc.type, 'doc');
      assert.equal(doc.version, 1);
      const problems: string[] = [];
      check(doc as AdfNode, '', problems);
      assert.deepEqual(problems, []);
    });
  }

  test('marks: bold, code (wins over bold), link; status lozenge; small marker paragraph is grey', () => {
    const blocks: Block[] = [
      { type: 'heading', level: 2, content: [{ type: 'text', text: 'h ' }, { type: 'status', text: 'APPLIED', color: 'green' }] },
      {
        type: 'paragraph',
        content: [
          { type: 'text', text: 'b', bold: true },
          { type: 'text', text: 'c', bold: true, code: true },
          { type: 'text', text: 'l', href: 'https://x.example/' },
          { type: 'break' },
          { type: 'text', text: '' },
        ],
      },
      { type: 'paragraph', small: true, content: [{ type: 'text', text: 'ts:status:r1' }] },
      { type: 'panel', kind: 'warning', content: [{ type: 'table', header: [[{ type: 'text', text: 'a' }]], rows: [[[{ type: 'text', text: 'b' }]]] }] },
    ];
    const doc = renderAdf(blocks);
    assert.deepEqual(doc.content[0], {
      type: 'heading',
      attrs: { level: 2 },
      content: [{ type: 'text', text: 'h ' }, { type: 'status', attrs: { text: 'APPLIED', color: 'green' } }],
    });
    assert.deepEqual(doc.content[1]!.content, [
      { type: 'text', text: 'b', marks: [{ type: 'strong' }] },
      { type: 'text', text: 'c', marks: [{ type: 'code' }] },
      { type: 'text', text: 'l', marks: [{ type: 'link', attrs: { href: 'https://x.example/' } }] },
      { type: 'hardBreak' },
    ]);
    assert.deepEqual(doc.content[2]!.content![0]!.marks, [{ type: 'textColor', attrs: { color: '#97a0af' } }]);
    // No tables inside panels in ADF: flattened to paragraphs.
    assert.deepEqual(doc.content[3]!.content!.map((n) => n.type), ['paragraph', 'paragraph']);
    assert.ok(adfText(doc).split('\n').includes('ts:status:r1'));
  });
});
