/**
 * The drift status comment of a package (TICKET-UX.md, "Reality changed"): one table of field,
 * last applied, desired, observed, owner and proposal, the last change the audit log knows,
 * and the commands that decide. Surface-neutral blocks; each ticket surface renders them.
 */
import type { AuditEvent, DriftFinding, Package } from '../../engine/model.ts';
import type { Block, Inline } from './blocks.ts';

const text = (t: string): Inline[] => [{ type: 'text', text: t }];
const para = (t: string): Block => ({ type: 'paragraph', content: text(t) });
const show = (v: unknown): string => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The proposal cell of a finding, in the ticket's words. */
function proposalText(f: DriftFinding): string {
  if (f.ignoredUntil) return `ignored until ${f.ignoredUntil.slice(0, 10)}`;
  if (f.class === 'in_sync') return 'in sync';
  if (f.class === 'both_sides') return 'ask: changed on both sides';
  if (f.proposal === 'adopt') return 'adopt (merge back)';
  if (f.proposal === 'revert') return 'revert (plan it back)';
  if (f.proposal === 'none') return 'decided';
  return f.class === 'reality_only' ? 'ask: not modelled by the bundle' : 'ask: changed by hand';
}

/** The blocks of `pkg`'s drift comment; `lastChange` is the audit's last change through the service, `event` a decision just taken. */
export function driftBlocks(pkg: Package, lastChange: AuditEvent | undefined, event?: string): Block[] {
  const drift = pkg.drift;
  const head = `ticket-surface · drift · ${pkg.id} · checked ${drift?.checkedAt.slice(0, 16).replace('T', ' ') ?? 'never'} UTC`;
  const blocks: Block[] = [para(head)];
  if (event) blocks.push(para(event));
  if (drift?.error) {
    blocks.push(para(`✘ The drift check could not run${drift.error.step ? ` (step ${drift.error.step})` : ''}: ${drift.error.message}. The package keeps its last observation.`));
  }
  const shown = (drift?.findings ?? []).filter((f) => f.class !== 'in_sync' || (drift?.decisions ?? []).some((d) => d.field === f.field));
  if (shown.length === 0) {
    blocks.push(para('✔ Reality matches what was applied.'));
    return blocks;
  }
  blocks.push(para(`Reality differs from what was applied${pkg.lastDeployment ? ` (deployment ${pkg.lastDeployment})` : ''}.`));
  blocks.push({
    type: 'table',
    header: ['field', 'last applied', 'desired (now)', 'observed', 'owner', 'proposal'].map(text),
    rows: shown.map((f) => [f.label, show(f.lastApplied), show(f.desired), show(f.observed), f.owner, proposalText(f)].map(text)),
  });
  blocks.push(para(lastChange
    ? `Last change seen in the audit: ${lastChange.action} by ${lastChange.actor} (${lastChange.surface}) at ${lastChange.at.slice(0, 16).replace('T', ' ')} UTC; anything after it was made elsewhere (a console or a script).`
    : 'Last change seen in the audit: none through ticket-surface, so it was made elsewhere (a console or a script).'));
  const open = shown.filter((f) => f.class !== 'in_sync' && f.proposal !== 'none');
  if (open.length > 0) blocks.push(...decisionBlocks(open));
  return blocks;
}

/** How to decide on the open fields: the commands spelled out for the first, the others named. */
function decisionBlocks(open: readonly DriftFinding[]): Block[] {
  const [first] = open;
  const blocks: Block[] = [para('Decide with a comment:')];
  blocks.push({ type: 'bulletList', items: [
    text(`/drift adopt ${first!.field}   (keeps ${show(first!.observed)}; nothing is applied)`),
    text(`/drift revert ${first!.field}   (plans the change back; needs the usual approval)`),
    text(`/drift ignore ${first!.field} until <YYYY-MM-DD>`),
  ] });
  if (open.length > 1) blocks.push(para(`The same for ${open.slice(1).map((f) => f.field).join(', ')}.`));
  return blocks;
}
