/**
 * Atlassian Document Format rules the Jira sandbox enforces: REST v3 accepts rich text only as an
 * ADF document, and Jira Cloud caps a stored comment or text field at 32,767 characters.
 */

/** Jira Cloud's limit for comments and multi-line text fields (characters, UTF-16 code units). */
export const JIRA_TEXT_LIMIT = 32_767;

/** Jira's wording when a v3 rich-text value is not ADF (for example a plain string). */
export const NOT_ADF_MESSAGE = 'Operation value must be an Atlassian Document (see the Atlassian Document Format)';

/** Jira's wording when a text is over {@link JIRA_TEXT_LIMIT}. */
export const TOO_LONG_MESSAGE = 'The entered text is too long. It exceeds the allowed limit of 32,767 characters.';

/** A node of an ADF document (kept loose: the sandbox checks structure, not every node type). */
export interface AdfNode {
  type: string;
  text?: string;
  attrs?: Record<string, unknown>;
  marks?: Array<{ type: string; attrs?: Record<string, unknown> }>;
  content?: AdfNode[];
}

/** An ADF document root. */
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

/**
 * Returns why `value` is not a valid ADF document, or null when it is one. Checks the root
 * (`type: doc`, `version: 1`, `content` array) and, recursively, that every node has a string
 * `type`, text nodes carry a string `text`, and `content`/`marks` are arrays.
 */
export function adfProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return NOT_ADF_MESSAGE;
  const doc = value as Record<string, unknown>;
  if (doc.type !== 'doc') return NOT_ADF_MESSAGE;
  if (doc.version !== 1) return 'ADF document version must be 1';
  if (!Array.isArray(doc.content)) return 'ADF document must have a content array';
  const walk = (node: unknown, pointer: string): string | null => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return `ADF node at ${pointer} is not an object`;
    const n = node as Record<string, unknown>;
    if (typeof n.type !== 'string' || n.type === '') return `ADF node at ${pointer} has no type`;
    if (n.type === 'doc') return `ADF node at ${pointer} may not be a nested doc`;
    if (n.type === 'text' && (typeof n.text !== 'string' || n.text === '')) return `ADF text node at ${pointer} needs a non-empty text`;
    if (n.marks !== undefined && !Array.isArray(n.marks)) return `ADF marks at ${pointer} must be an array`;
    if (n.content !== undefined) {
      if (!Array.isArray(n.content)) return `ADF content at ${pointer} must be an array`;
      for (let i = 0; i < n.content.length; i++) {
        const p = walk(n.content[i], `${pointer}/content/${i}`);
        if (p) return p;
      }
    }
    return null;
  };
  for (let i = 0; i < doc.content.length; i++) {
    const p = walk(doc.content[i], `/content/${i}`);
    if (p) return p;
  }
  return null;
}

/**
 * Length Jira counts against {@link JIRA_TEXT_LIMIT} for an ADF value: Cloud stores the document
 * as its JSON serialization in a column capped at 32,767 characters, so the markup counts too.
 */
export function adfStoredLength(doc: unknown): number {
  return JSON.stringify(doc).length;
}

/** Wraps plain text as an ADF document of paragraphs (one per line). */
export function adfFromText(text: string): AdfDoc {
  return {
    type: 'doc',
    version: 1,
    content: text.split('\n').map((line) => ({
      type: 'paragraph',
      content: line ? [{ type: 'text', text: line }] : [],
    })),
  };
}

const BLOCK_TYPES = new Set([
  'paragraph',
  'heading',
  'blockquote',
  'codeBlock',
  'panel',
  'rule',
  'listItem',
  'tableRow',
  'mediaSingle',
  'expand',
]);

/**
 * Flattens an ADF document to plain text, roughly as Jira renders it into the v2 (webhook)
 * representation: blocks become lines, table cells are separated by `|`, mentions keep their text.
 */
export function adfToText(value: unknown): string {
  const out: string[] = [];
  const walk = (node: AdfNode): void => {
    if (node.type === 'text') {
      out.push(node.text ?? '');
      return;
    }
    if (node.type === 'hardBreak') {
      out.push('\n');
      return;
    }
    if (node.type === 'mention' || node.type === 'emoji' || node.type === 'status' || node.type === 'inlineCard') {
      const a = node.attrs ?? {};
      out.push(String(a.text ?? a.shortName ?? a.url ?? ''));
      return;
    }
    if (node.type === 'tableCell' || node.type === 'tableHeader') out.push('|');
    for (const child of node.content ?? []) walk(child);
    if (node.type === 'tableRow') out.push('|\n');
    else if (BLOCK_TYPES.has(node.type)) out.push('\n');
  };
  if (typeof value === 'string') return value;
  const doc = value as AdfDoc | null;
  for (const node of doc?.content ?? []) walk(node);
  return out.join('').replace(/\n+$/, '');
}
