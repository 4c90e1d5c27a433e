/**
 * The blocks of a stack's one status comment: where the stack is, one line per package (its
 * state, its plan, its monthly cost), the lease, what just happened, and the commands that work.
 */
import type { StackView } from '../../workflow/stacks.ts';
import type { Block, Inline, StatusColor } from './blocks.ts';

const COLORS: Record<StackView['state'], StatusColor> = { creating: 'blue', waiting: 'yellow', failed: 'red', up: 'green', destroying: 'purple', destroyed: 'neutral' };

/** The status comment of a stack. */
export function stackBlocks(view: StackView): Block[] {
  const text = (t: string, bold = false): Inline => ({ type: 'text', text: t, ...(bold ? { bold: true } : {}) });
  const blocks: Block[] = [
    { type: 'paragraph', content: [{ type: 'status', text: view.state.toUpperCase(), color: COLORS[view.state] }, text(' '), text(view.title, true)] },
    { type: 'paragraph', content: [text(view.summary)] },
    {
      type: 'table',
      header: [[text('package')], [text('bundle')], [text('state')], [text('plan')], [text('monthly')]],
      rows: view.packages.map((p) => [
        [text(p.id)],
        [text(`${p.bundle} ${p.version}`)],
        [text(p.error ? `${p.state}: ${p.error}` : p.state)],
        [text(p.plan ?? '—')],
        [text(p.costMonthly !== undefined ? `$${p.costMonthly.toFixed(2)}` : '—')],
      ]),
    },
  ];
  if (view.lease) blocks.push({ type: 'paragraph', content: [text(view.lease)] });
  if (view.event) blocks.push({ type: 'paragraph', content: [text(view.event)] });
  if (view.commands.length) blocks.push({ type: 'paragraph', small: true, content: [text(`Commands: ${view.commands.join(' · ')}`)] });
  return blocks;
}
