/**
 * Blocks → ServiceNow work-note text. Work notes are plain text (HTML only inside `[code]` tags,
 * which {@link sanitize} neutralises in every value), so marks are dropped, links become
 * "text (url)", tables become aligned columns and panels keep their icons as the only emphasis.
 */
import type { Block, Inline } from '../shared/blocks.ts';
import { fitBlocks } from '../shared/size-limit.ts';

/** Default cap on one work note; instances differ, so it is configurable. */
export const SERVICENOW_WORK_NOTE_LIMIT = 32_000;

/** Renders blocks to plain text. */
export function renderText(blocks: Block[]): string {
  return blocks
    .flatMap((b) => blockLines(b))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Result of {@link renderWorkNote}. */
export interface WorkNote {
  text: string;
  size: number;
  shrunk: boolean;
}

/** Renders blocks to a work note no longer than `limit` characters. */
export function renderWorkNote(blocks: Block[], limit = SERVICENOW_WORK_NOTE_LIMIT): WorkNote {
  const fit = fitBlocks(blocks, (b) => renderText(b).length, limit);
  const text = renderText(fit.blocks);
  return { text, size: text.length, shrunk: fit.shrunk };
}

function inline(content: Inline[]): string {
  return content
    .map((i) => {
      if (i.type === 'break') return '\n';
      if (i.type === 'text' && i.href && i.href !== i.text) return `${i.text} (${i.href})`;
      return i.text;
    })
    .join('');
}

function blockLines(b: Block): string[] {
  switch (b.type) {
    case 'heading':
      return ['', inline(b.content)];
    case 'paragraph':
      return [inline(b.content)];
    case 'rule':
      return ['----'];
    case 'code':
      return b.text.split('\n').map((l) => `    ${l}`);
    case 'bulletList':
      return b.items.map((item) => `  • ${inline(item).replace(/\n/g, '\n    ')}`);
    case 'panel':
      // A blank line before stands in for the panel's colour: what it says must not blend in.
      return ['', ...b.content.flatMap((c) => blockLines(c))];
    case 'table': {
      const rows = [b.header, ...b.rows].map((r) => r.map((c) => inline(c).replace(/\n/g, ' ')));
      const widths = b.header.map((_, k) => Math.max(...rows.map((r) => [...(r[k] ?? '')].length)));
      const line = (r: string[]): string => `  | ${r.map((c, k) => c + ' '.repeat(widths[k]! - [...c].length)).join(' | ')} |`;
      return [line(rows[0]!), `  |${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)];
    }
  }
}
