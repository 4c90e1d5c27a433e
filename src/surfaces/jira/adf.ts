/**
 * Blocks → Atlassian Document Format (ADF), the body format of Jira REST v3 comments. Only the
 * nodes and marks Jira Cloud accepts in comments are produced: doc (version 1), paragraph,
 * heading, table/tableRow/tableHeader/tableCell, panel (info/success/warning/error),
 * bulletList/listItem, codeBlock, rule, the inline status lozenge, hardBreak, and text with the
 * strong/code/link/textColor marks. Combinations ADF forbids (code together with strong, empty
 * text nodes, tables inside panels) are avoided here rather than left to Jira to reject.
 */
import type { Block, Inline } from '../shared/blocks.ts';
import { fitBlocks } from '../shared/size-limit.ts';

/** One ADF mark. */
export interface AdfMark {
  type: 'strong' | 'code' | 'link' | 'textColor';
  attrs?: Record<string, unknown>;
}

/** One ADF node. */
export interface AdfNode {
  type: string;
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
  text?: string;
  marks?: AdfMark[];
}

/** An ADF document. */
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

/** Jira's cap on a comment body, in characters of the serialized body (400 CONTENT_LIMIT_EXCEEDED beyond). */
export const JIRA_COMMENT_LIMIT = 32_767;

/** Grey Jira uses for secondary text; the status marker is drawn in it so it reads as a footnote. */
const SUBTLE = '#97a0af';

/** Renders blocks to an ADF document. */
export function renderAdf(blocks: Block[]): AdfDoc {
  return { type: 'doc', version: 1, content: blocks.flatMap((b) => blockNodes(b, false)) };
}

/** Result of {@link renderJiraComment}. */
export interface JiraComment {
  doc: AdfDoc;
  /** Characters of `JSON.stringify(doc)`, the size Jira's limit is checked against. */
  size: number;
  /** True when rows or blocks were dropped to fit. */
  shrunk: boolean;
}

/**
 * Renders blocks to an ADF comment body whose serialized JSON fits Jira's limit (default
 * {@link JIRA_COMMENT_LIMIT}). Measuring the JSON rather than the visible text is deliberately
 * conservative: the JSON is always the longer of the two.
 */
export function renderJiraComment(blocks: Block[], limit = JIRA_COMMENT_LIMIT): JiraComment {
  const measure = (b: Block[]): number => JSON.stringify(renderAdf(b)).length;
  const fit = fitBlocks(blocks, measure, limit);
  return { doc: renderAdf(fit.blocks), size: fit.size, shrunk: fit.shrunk };
}

/** All text of an ADF document, paragraphs separated by newlines (for finding markers, and tests). */
export function adfText(node: AdfNode | AdfDoc): string {
  if (node.type === 'text') return node.text ?? '';
  if (node.type === 'hardBreak') return '\n';
  if (node.type === 'status') return String(node.attrs?.text ?? '');
  const inner = (node.content ?? []).map((n) => adfText(n));
  const blockLevel = ['doc', 'panel', 'bulletList', 'listItem', 'table', 'tableRow', 'tableCell', 'tableHeader'].includes(node.type);
  return inner.join(blockLevel ? '\n' : '');
}

function blockNodes(b: Block, inPanel: boolean): AdfNode[] {
  switch (b.type) {
    case 'heading':
      return [{ type: 'heading', attrs: { level: b.level }, content: inlineNodes(b.content) }];
    case 'paragraph':
      return [{ type: 'paragraph', content: inlineNodes(b.content, b.small ? [{ type: 'textColor', attrs: { color: SUBTLE } }] : []) }];
    case 'rule':
      return [{ type: 'rule' }];
    case 'code':
      return b.text ? [{ type: 'codeBlock', attrs: {}, content: [{ type: 'text', text: b.text }] }] : [];
    case 'bulletList':
      if (!b.items.length) return [];
      return [
        {
          type: 'bulletList',
          content: b.items.map((item) => ({ type: 'listItem', content: [{ type: 'paragraph', content: inlineNodes(item) }] })),
        },
      ];
    case 'panel':
      return [{ type: 'panel', attrs: { panelType: b.kind }, content: b.content.flatMap((c) => blockNodes(c, true)) }];
    case 'table': {
      // ADF allows no tables inside panels; such a table is flattened to one paragraph per row.
      if (inPanel) {
        return [b.header, ...b.rows].map((row) => ({
          type: 'paragraph',
          content: inlineNodes(row.flatMap((cell, k) => (k ? [{ type: 'text', text: ' · ' } as Inline, ...cell] : cell))),
        }));
      }
      const row = (cells: Inline[][], cellType: 'tableHeader' | 'tableCell'): AdfNode => ({
        type: 'tableRow',
        content: cells.map((cell) => ({ type: cellType, attrs: {}, content: [{ type: 'paragraph', content: inlineNodes(cell) }] })),
      });
      return [
        {
          type: 'table',
          attrs: { isNumberColumnEnabled: false, layout: 'default' },
          content: [row(b.header, 'tableHeader'), ...b.rows.map((r) => row(r, 'tableCell'))],
        },
      ];
    }
  }
}

function inlineNodes(content: Inline[], extra: AdfMark[] = []): AdfNode[] {
  const out: AdfNode[] = [];
  for (const i of content) {
    if (i.type === 'break') out.push({ type: 'hardBreak' });
    else if (i.type === 'status') out.push({ type: 'status', attrs: { text: i.text, color: i.color } });
    else if (i.text) {
      const marks: AdfMark[] = [];
      // ADF: `code` combines only with `link`; code wins over bold.
      if (i.code) marks.push({ type: 'code' });
      else {
        if (i.bold) marks.push({ type: 'strong' });
        marks.push(...extra);
      }
      if (i.href) marks.push({ type: 'link', attrs: { href: i.href } });
      out.push(marks.length ? { type: 'text', text: i.text, marks } : { type: 'text', text: i.text });
    }
  }
  return out;
}
