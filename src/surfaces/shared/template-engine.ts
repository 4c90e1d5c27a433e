/**
 * A tiny template engine for ticket messages: mustache-like tags over a tiny Markdown subset,
 * rendered to the neutral {@link Block} model.
 *
 * Tags: `{{name}}` / `{{a.b}}` / `{{.}}` substitute a value; `{{#name}}...{{/name}}` repeats for
 * each element of a list or renders once when the value is truthy (a non-list value becomes the
 * context); `{{^name}}...{{/name}}` renders when the value is missing, false or an empty list;
 * `{{> other}}` includes another template. A tag alone on its line takes the line with it.
 *
 * Markdown subset: `#`/`##`/`###` headings; paragraphs (blank-line separated, single line breaks
 * kept); `- ` bullet items (two-space indented lines continue an item); `| a | b |` tables (first
 * row is the header, `|---|` lines are skipped); `:::info|success|warning|error` ... `:::` panels;
 * fenced ``` code blocks; `---` rules. Inline: `**bold**`, `` `code` ``, `[text](https://url)`,
 * `[[STATUS TEXT|color]]` lozenges. `<!-- overflow: {n} more resources -->` right after a table or
 * list sets what the size limiter says when it drops rows.
 *
 * Injection safety: substituted values never pass through the Markdown parser. Expansion puts a
 * private-use placeholder where each value goes; the parser builds the structure; only then are
 * placeholders swapped back for the (sanitized) values as literal text. A value containing
 * `| x |`, `**`, `# ` or `:::` therefore stays text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { SystemError } from '../../engine/errors.ts';
import { sanitize } from './sanitize.ts';
import type { Block, Inline, PanelKind, StatusColor, TextInline } from './blocks.ts';

/** Data a template reads: nested plain objects, lists, strings, numbers, booleans. */
export type TemplateData = { [key: string]: TemplateValue };
/** One value a template can read. */
export type TemplateValue = string | number | boolean | null | undefined | TemplateData | TemplateValue[];

/** A template that cannot be parsed or names an unknown partial; a bug of ours, not the user's. */
export class TemplateError extends SystemError {
  constructor(template: string, message: string) {
    super(`template ${template}: ${message}`);
  }
}

/** Options of one render. */
export interface RenderOptions {
  /** Exact secret values to redact from every substituted value, as a last line of defence. */
  secrets?: readonly string[];
}

type Node =
  | { t: 'text'; s: string }
  | { t: 'var'; name: string }
  | { t: 'section'; name: string; inverted: boolean; children: Node[] }
  | { t: 'partial'; name: string };

const OPEN = '\uE000';
const CLOSE = '\uE001';
const PLACEHOLDER = /\uE000(\d+)\uE001/g;
const PANEL_KINDS: readonly PanelKind[] = ['info', 'success', 'warning', 'error'];
const STATUS_COLORS: readonly StatusColor[] = ['neutral', 'purple', 'blue', 'red', 'yellow', 'green'];

/**
 * Holds a set of named templates and renders them. Templates are read once, at construction, so
 * a broken template fails at start-up rather than in the middle of a request.
 */
export class TemplateEngine {
  private readonly parsed = new Map<string, Node[]>();

  /** @param templates template name (file name without `.md`) -> source text. */
  constructor(templates: Record<string, string>) {
    for (const [name, source] of Object.entries(templates)) this.parsed.set(name, parseTags(name, source));
    for (const [name, nodes] of this.parsed) this.checkPartials(name, nodes);
  }

  /** Loads every `*.md` file of `dir` (default: the templates shipped beside this file). */
  static fromDirectory(dir: URL | string = new URL('./templates/', import.meta.url)): TemplateEngine {
    const path = typeof dir === 'string' ? dir : fileURLToPath(dir);
    const templates: Record<string, string> = {};
    for (const file of readdirSync(path)) {
      if (file.endsWith('.md')) templates[file.slice(0, -3)] = readFileSync(join(path, file), 'utf8');
    }
    return new TemplateEngine(templates);
  }

  /** Names of the loaded templates. */
  names(): string[] {
    return [...this.parsed.keys()].sort();
  }

  /** Expands template `name` with `data` and parses the result into blocks. */
  render(name: string, data: TemplateData, options: RenderOptions = {}): Block[] {
    const values: string[] = [];
    const text = this.expand(name, [data], values, options, 0);
    return parseMarkdown(name, text, values);
  }

  private expand(name: string, context: TemplateValue[], values: string[], options: RenderOptions, depth: number): string {
    const nodes = this.parsed.get(name);
    if (!nodes) throw new TemplateError(name, 'no such template');
    if (depth > 8) throw new TemplateError(name, 'partials nest too deep');
    let out = '';
    const walk = (list: Node[], stack: TemplateValue[]): void => {
      for (const n of list) {
        if (n.t === 'text') out += n.s;
        else if (n.t === 'partial') out += this.expand(n.name, stack, values, options, depth + 1);
        else if (n.t === 'var') {
          const v = lookup(stack, n.name);
          if (v === undefined || v === null || v === false) continue;
          const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
          values.push(sanitize(s, { multiline: true, secrets: options.secrets }));
          out += `${OPEN}${values.length - 1}${CLOSE}`;
        } else {
          const v = lookup(stack, n.name);
          const empty = v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0);
          if (n.inverted) {
            if (empty) walk(n.children, stack);
          } else if (!empty) {
            if (Array.isArray(v)) for (const item of v) walk(n.children, [...stack, item]);
            else walk(n.children, typeof v === 'object' ? [...stack, v] : stack);
          }
        }
      }
    };
    walk(nodes, context);
    return out;
  }

  private checkPartials(name: string, nodes: Node[]): void {
    for (const n of nodes) {
      if (n.t === 'partial' && !this.parsed.has(n.name)) throw new TemplateError(name, `includes unknown template "${n.name}"`);
      if (n.t === 'section') this.checkPartials(name, n.children);
    }
  }
}

function lookup(stack: TemplateValue[], name: string): TemplateValue {
  if (name === '.') return stack[stack.length - 1];
  const [head, ...rest] = name.split('.');
  for (let i = stack.length - 1; i >= 0; i--) {
    const ctx = stack[i];
    if (ctx && typeof ctx === 'object' && !Array.isArray(ctx) && head! in ctx) {
      let v: TemplateValue = (ctx as TemplateData)[head!];
      for (const key of rest) {
        if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
        v = (v as TemplateData)[key];
      }
      return v;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Tags

function parseTags(name: string, source: string): Node[] {
  // Standalone section/partial tags take their whole line, so templates can put them on lines
  // of their own without leaving blank lines (which would split paragraphs) behind.
  const src = source.replace(/\r\n?/g, '\n').replace(/^[ \t]*(\{\{\s*[#^/>][^}]*\}\})[ \t]*\n/gm, '$1');
  const root: Node[] = [];
  const stack: { name: string; children: Node[]; line: number }[] = [];
  let current = root;
  const re = /\{\{\s*([#^/>]?)\s*([\w.-]+|\.)\s*\}\}/g;
  let last = 0;
  for (let m = re.exec(src); m; m = re.exec(src)) {
    if (m.index > last) current.push({ t: 'text', s: src.slice(last, m.index) });
    last = re.lastIndex;
    const [, sigil, tag] = m;
    const line = src.slice(0, m.index).split('\n').length;
    if (sigil === '#' || sigil === '^') {
      const node: Node = { t: 'section', name: tag!, inverted: sigil === '^', children: [] };
      current.push(node);
      stack.push({ name: tag!, children: current, line });
      current = node.children;
    } else if (sigil === '/') {
      const open = stack.pop();
      if (!open) throw new TemplateError(name, `line ${line}: {{/${tag}}} closes nothing`);
      if (open.name !== tag) throw new TemplateError(name, `line ${line}: {{/${tag}}} closes {{#${open.name}}} of line ${open.line}`);
      current = open.children;
    } else if (sigil === '>') current.push({ t: 'partial', name: tag! });
    else current.push({ t: 'var', name: tag! });
  }
  if (last < src.length) current.push({ t: 'text', s: src.slice(last) });
  const open = stack.pop();
  if (open) throw new TemplateError(name, `line ${open.line}: {{#${open.name}}} is never closed`);
  if (src.includes('{{') && /\{\{(?![^}]*\}\})/.test(src)) throw new TemplateError(name, 'unterminated {{');
  return root;
}

// ---------------------------------------------------------------------------------------------
// Markdown subset

function parseMarkdown(name: string, text: string, values: string[]): Block[] {
  const lines = text.split('\n').map((l) => l.replace(/\s+$/, ''));
  const { blocks } = parseBlocks(name, lines, 0, values, false);
  return blocks;
}

function parseBlocks(name: string, lines: string[], start: number, values: string[], inPanel: boolean): { blocks: Block[]; next: number } {
  const blocks: Block[] = [];
  let i = start;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length) blocks.push({ type: 'paragraph', content: joinLines(para, values) });
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === '') {
      flush();
      i++;
    } else if (trimmed === ':::') {
      if (!inPanel) throw new TemplateError(name, 'a ::: closes no panel');
      flush();
      return { blocks, next: i + 1 };
    } else if (/^:::\w+$/.test(trimmed)) {
      flush();
      const kind = trimmed.slice(3) as PanelKind;
      if (!PANEL_KINDS.includes(kind)) throw new TemplateError(name, `unknown panel kind "${kind}"`);
      const inner = parseBlocks(name, lines, i + 1, values, true);
      if (inner.blocks.length) blocks.push({ type: 'panel', kind, content: inner.blocks });
      i = inner.next;
    } else if (trimmed.startsWith('```')) {
      flush();
      const code = parseCode(lines, i, values);
      if (code.block) blocks.push(code.block);
      i = code.next;
    } else if (/^#{1,3} /.test(trimmed)) {
      flush();
      const level = trimmed.indexOf(' ') as 1 | 2 | 3;
      blocks.push({ type: 'heading', level, content: parseInline(trimmed.slice(level + 1), values) });
      i++;
    } else if (trimmed === '---') {
      flush();
      blocks.push({ type: 'rule' });
      i++;
    } else if (trimmed.startsWith('- ')) {
      flush();
      const list = parseList(lines, i, values);
      blocks.push(list.block);
      i = list.next;
    } else if (trimmed.startsWith('|')) {
      flush();
      const table = parseTable(lines, i, values);
      blocks.push(table.block);
      i = table.next;
    } else if (/^<!--.*-->$/.test(trimmed)) {
      i++; // a stray directive renders as nothing
    } else {
      para.push(trimmed);
      i++;
    }
  }
  if (inPanel) throw new TemplateError(name, 'a :::panel is never closed');
  flush();
  return { blocks, next: i };
}

/** A fenced code block starting at line `i` (empty code renders as nothing). */
function parseCode(lines: string[], i: number, values: string[]): { block?: Block; next: number } {
  const body: string[] = [];
  let next = i + 1;
  while (next < lines.length && !lines[next]!.trim().startsWith('```')) body.push(lines[next++]!);
  const code = resolve(body.join('\n'), values, true).replace(/^\n+|\n+$/g, '');
  return { ...(code ? { block: { type: 'code', text: code } } : {}), next: next + 1 };
}

/** A bullet list starting at line `i` (indented lines continue an item), with its overflow note. */
function parseList(lines: string[], i: number, values: string[]): { block: Block; next: number } {
  const items: string[][] = [];
  let next = i;
  for (; next < lines.length; next++) {
    const l = lines[next]!;
    if (l.trim().startsWith('- ')) items.push([l.trim().slice(2)]);
    else if (/^ {2,}\S/.test(l) && items.length) items[items.length - 1]!.push(l.trim());
    else break;
  }
  const block: Block = { type: 'bulletList', items: items.map((it) => joinLines(it, values)) };
  return { block, next: takeOverflow(lines, next, values, block) };
}

/** A table starting at line `i` (its first row is the header; separator rows are skipped), with its overflow note. */
function parseTable(lines: string[], i: number, values: string[]): { block: Block; next: number } {
  const rows: string[][] = [];
  let next = i;
  for (; next < lines.length && lines[next]!.trim().startsWith('|'); next++) {
    const row = lines[next]!.trim();
    if (!/^\|[\s:|-]+\|$/.test(row)) rows.push(splitRow(row));
  }
  const [head, ...body] = rows;
  const block: Block = {
    type: 'table',
    header: head!.map((c) => parseInline(c, values)),
    rows: body.map((r) => head!.map((_, k) => parseInline(r[k] ?? '', values))),
  };
  return { block, next: takeOverflow(lines, next, values, block) };
}

function takeOverflow(lines: string[], i: number, values: string[], block: { overflow?: string }): number {
  const m = /^<!--\s*overflow:\s*(.*?)\s*-->$/.exec(lines[i]?.trim() ?? '');
  if (!m) return i;
  block.overflow = resolve(m[1]!, values, false);
  return i + 1;
}

function splitRow(row: string): string[] {
  return row
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

function joinLines(lines: string[], values: string[]): Inline[] {
  const out: Inline[] = [];
  lines.forEach((l, k) => {
    if (k > 0) out.push({ type: 'break' });
    out.push(...parseInline(l, values));
  });
  return out;
}

function resolve(s: string, values: string[], multiline: boolean): string {
  return s.replace(PLACEHOLDER, (_m, k: string) => {
    const v = values[Number(k)] ?? '';
    return multiline ? v : v.replace(/\s*\n\s*/g, ' ');
  });
}

function parseInline(src: string, values: string[]): Inline[] {
  const out: Inline[] = [];
  const push = (text: string, marks: Omit<TextInline, 'type' | 'text'> = {}): void => {
    const t = resolve(text, values, false);
    if (!t) return;
    const prev = out[out.length - 1];
    if (prev && prev.type === 'text' && !prev.bold && !prev.code && !prev.href && !marks.bold && !marks.code && !marks.href) {
      prev.text += t;
    } else out.push({ type: 'text', text: t, ...marks });
  };
  let i = 0;
  let plain = '';
  const flushPlain = (): void => {
    if (plain) push(plain);
    plain = '';
  };
  while (i < src.length) {
    const rest = src.slice(i);
    let m: RegExpExecArray | null;
    if ((m = /^\*\*(.+?)\*\*/.exec(rest))) {
      flushPlain();
      push(m[1]!, { bold: true });
    } else if ((m = /^`([^`]+)`/.exec(rest))) {
      flushPlain();
      push(m[1]!, { code: true });
    } else if ((m = /^\[\[([^|\]]+)\|(\w+|\uE000\d+\uE001)\]\]/.exec(rest))) {
      flushPlain();
      const color = resolve(m[2]!, values, false) as StatusColor;
      out.push({ type: 'status', text: resolve(m[1]!, values, false), color: STATUS_COLORS.includes(color) ? color : 'neutral' });
    } else if ((m = /^\[([^\]]+)\]\(([^)\s]+)\)/.exec(rest))) {
      flushPlain();
      const href = resolve(m[2]!, values, false);
      // Only web links survive; a value like javascript:... stays visible text, never a link.
      if (/^https?:\/\/[^\s]+$/i.test(href)) push(m[1]!, { href });
      else push(`${m[1]} (${href})`);
    } else {
      plain += src[i];
      i++;
      continue;
    }
    i += m[0].length;
  }
  flushPlain();
  return out;
}
