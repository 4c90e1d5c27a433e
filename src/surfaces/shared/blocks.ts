/**
 * The surface-neutral block model every ticket message is rendered to first. Templates produce
 * blocks; one renderer per surface turns blocks into that surface's format (Jira ADF, ServiceNow
 * work-note text). Kept deliberately small: what a status comment needs and nothing more.
 */

/** Colours a status lozenge can take; the set Jira's `status` node accepts. */
export type StatusColor = 'neutral' | 'purple' | 'blue' | 'red' | 'yellow' | 'green';

/** A run of text with optional marks. */
export interface TextInline {
  type: 'text';
  text: string;
  bold?: boolean;
  code?: boolean;
  /** Target of a link; only http(s) URLs survive parsing. */
  href?: string;
}

/** A status lozenge, for example AWAITING APPROVAL in yellow. */
export interface StatusInline {
  type: 'status';
  text: string;
  color: StatusColor;
}

/** A forced line break inside a paragraph or cell. */
export interface BreakInline {
  type: 'break';
}

/** Anything that can appear inside a paragraph, heading, list item or table cell. */
export type Inline = TextInline | StatusInline | BreakInline;

/** A heading, levels 1 to 3. */
export interface HeadingBlock {
  type: 'heading';
  level: 1 | 2 | 3;
  content: Inline[];
}

/** A paragraph. `small` marks trailing machine text (the status marker) renderers may de-emphasise. */
export interface ParagraphBlock {
  type: 'paragraph';
  content: Inline[];
  small?: boolean;
}

/** A table whose first row is the header. */
export interface TableBlock {
  type: 'table';
  header: Inline[][];
  rows: Inline[][][];
  /**
   * What to say when the size limiter drops rows; `{n}` is replaced by the number dropped, for
   * example "{n} more resources: see the attached plan".
   */
  overflow?: string;
}

/** Kinds of panel; Jira's panel types of the same names. */
export type PanelKind = 'info' | 'success' | 'warning' | 'error';

/** A coloured box around other blocks. */
export interface PanelBlock {
  type: 'panel';
  kind: PanelKind;
  content: Block[];
}

/** A bullet list; each item is a list of inlines. */
export interface BulletListBlock {
  type: 'bulletList';
  items: Inline[][];
  /** Like {@link TableBlock.overflow}, for dropped items. */
  overflow?: string;
}

/** Preformatted text (a redacted log excerpt). */
export interface CodeBlock {
  type: 'code';
  text: string;
}

/** A horizontal rule. */
export interface RuleBlock {
  type: 'rule';
}

/** Any block. */
export type Block = HeadingBlock | ParagraphBlock | TableBlock | PanelBlock | BulletListBlock | CodeBlock | RuleBlock;

/** Plain text of a list of inlines, marks dropped (for text renderers and tests). */
export function inlineText(content: Inline[]): string {
  return content.map((i) => (i.type === 'break' ? '\n' : i.text)).join('');
}

/** Every inline of a block tree, in document order (used to scrub and to measure). */
export function* walkInlines(blocks: Block[]): Generator<Inline> {
  for (const b of blocks) {
    switch (b.type) {
      case 'heading':
      case 'paragraph':
        yield* b.content;
        break;
      case 'table':
        for (const cell of b.header) yield* cell;
        for (const row of b.rows) for (const cell of row) yield* cell;
        break;
      case 'panel':
        yield* walkInlines(b.content);
        break;
      case 'bulletList':
        for (const item of b.items) yield* item;
        break;
      case 'code':
        yield { type: 'text', text: b.text, code: true };
        break;
      case 'rule':
        break;
    }
  }
}
