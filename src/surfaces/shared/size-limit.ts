/**
 * Keeps a rendered message under a surface's size limit (Jira: 32,767 characters per comment;
 * ServiceNow: a configurable work-note limit). The limit is measured on the surface's own
 * serialization, so the caller passes a `measure` function. Shrinking goes from least to most
 * informative loss: long tables and lists lose rows (with an "N more ..." line), a log excerpt
 * keeps its tail (errors are at the end), then trailing blocks are dropped. The first block (the
 * header) and marker paragraphs are never dropped.
 */
import type { Block, BulletListBlock, CodeBlock, Inline, ParagraphBlock, TableBlock } from './blocks.ts';

/** Result of {@link fitBlocks}. */
export interface FitResult {
  blocks: Block[];
  /** True when anything was removed. */
  shrunk: boolean;
  /** Size of the result as measured. */
  size: number;
}

type Collection = TableBlock | BulletListBlock;
interface Ref {
  container: Block[];
  index: number;
}

const SHORTENED = '… (shortened to fit the ticket; the full details are in the attached plan or the service)';

/**
 * Returns `blocks` shrunk until `measure(blocks) <= limit`. Never mutates its input. Throws only
 * when even the header and marker alone exceed the limit (a limit too small to be real).
 */
export function fitBlocks(blocks: Block[], measure: (blocks: Block[]) => number, limit: number): FitResult {
  const initial = measure(blocks);
  if (initial <= limit) return { blocks, shrunk: false, size: initial };
  const work = structuredClone(blocks);
  const fits = (): boolean => measure(work) <= limit;
  // 1. Tables and lists, biggest first. 2. Code excerpts keep their tail (errors are at the end).
  if (shortenCollections(work, fits) || shortenCode(work, fits)) return { blocks: work, shrunk: true, size: measure(work) };
  // 3. Then trailing blocks go.
  return dropTrailing(work, measure, limit);
}

/**
 * Shortens tables and lists in place, biggest first, each to the most rows that fit (with an
 * "N more" note after it). True as soon as the message fits.
 */
function shortenCollections(work: Block[], fits: () => boolean): boolean {
  const done = new WeakSet<object>();
  const notes = new WeakSet<object>();
  for (;;) {
    const refs = collect(work, (b): b is Collection => (b.type === 'table' || b.type === 'bulletList') && !done.has(b));
    if (!refs.length) return false;
    refs.sort((a, b) => rowCount(b.container[b.index] as Collection) - rowCount(a.container[a.index] as Collection));
    const ref = refs[0]!;
    const original = ref.container[ref.index] as Collection;
    const n = rowCount(original);
    if (n === 0) {
      done.add(original);
      continue;
    }
    const apply = (keep: number): void => {
      const truncated = truncateCollection(original, keep);
      done.add(truncated);
      const note = overflowNote(original, n - keep);
      notes.add(note);
      const next = ref.container[ref.index + 1];
      ref.container.splice(ref.index, next && notes.has(next) ? 2 : 1, truncated, note);
    };
    // Largest `keep` that fits; 0 when nothing does (then later steps continue shrinking).
    keepLargestFitting(n - 1, apply, fits);
    if (fits()) return true;
  }
}

/** Shortens code excerpts in place to the last lines that fit. True as soon as the message fits. */
function shortenCode(work: Block[], fits: () => boolean): boolean {
  for (const ref of collect(work, (b): b is CodeBlock => b.type === 'code')) {
    const code = ref.container[ref.index] as CodeBlock;
    const lines = code.text.split('\n');
    const apply = (keep: number): void => {
      ref.container[ref.index] = { type: 'code', text: [`… ${lines.length - keep} earlier lines omitted`, ...lines.slice(lines.length - keep)].join('\n') };
    };
    keepLargestFitting(lines.length - 1, apply, fits);
    if (fits()) return true;
  }
  return false;
}

/** Applies the largest `keep` in 0..`max` for which `fits()` holds (0 when none does) and leaves it applied. */
function keepLargestFitting(max: number, apply: (keep: number) => void, fits: () => boolean): void {
  let lo = 0;
  let hi = max;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    apply(mid);
    if (fits()) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  apply(best);
}

/**
 * Drops trailing blocks (keeping the header and markers), noting that something was cut; as a
 * last resort the header's own text is cut (only a runaway value can get there).
 */
function dropTrailing(work: Block[], measure: (blocks: Block[]) => number, limit: number): FitResult {
  const markers = work.filter((b) => b.type === 'paragraph' && b.small);
  const body = work.filter((b) => !(b.type === 'paragraph' && b.small));
  const note: ParagraphBlock = { type: 'paragraph', content: [{ type: 'text', text: SHORTENED }] };
  for (let keep = body.length - 1; keep >= 1; keep--) {
    const candidate = [...body.slice(0, keep), note, ...markers];
    if (measure(candidate) <= limit) return { blocks: candidate, shrunk: true, size: measure(candidate) };
  }
  const header = structuredClone(body[0]!);
  const candidate: Block[] = [header, note, ...markers];
  const texts = [...textsOf(header)];
  for (let guard = 0; guard < 64 && measure(candidate) > limit; guard++) {
    const longest = texts.sort((a, b) => b.text.length - a.text.length)[0];
    if (!longest || longest.text.length <= 1) break;
    longest.text = `${longest.text.slice(0, Math.floor(longest.text.length / 2))}…`;
  }
  const size = measure(candidate);
  if (size > limit) throw new RangeError(`a message cannot be made smaller than ${size} (limit ${limit})`);
  return { blocks: candidate, shrunk: true, size };
}

function rowCount(b: Collection): number {
  return b.type === 'table' ? b.rows.length : b.items.length;
}

function truncateCollection(b: Collection, keep: number): Collection {
  return b.type === 'table' ? { ...b, rows: b.rows.slice(0, keep) } : { ...b, items: b.items.slice(0, keep) };
}

function overflowNote(b: Collection, dropped: number): ParagraphBlock {
  const text = (b.overflow ?? '{n} more not shown').replace('{n}', String(dropped));
  return { type: 'paragraph', content: [{ type: 'text', text }] };
}

function collect<T extends Block>(blocks: Block[], pick: (b: Block) => b is T): Ref[] {
  const out: Ref[] = [];
  blocks.forEach((b, index) => {
    if (pick(b)) out.push({ container: blocks, index });
    if (b.type === 'panel') out.push(...collect(b.content, pick));
  });
  return out;
}

function* textsOf(b: Block): Generator<Extract<Inline, { text: string }>> {
  if (b.type === 'heading' || b.type === 'paragraph') for (const i of b.content) if (i.type !== 'break') yield i;
}
