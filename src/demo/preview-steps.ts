/**
 * The preview story's steps, shared by the demo (`npm run demo -- --story preview`) and the
 * end-to-end test: a clock that can be moved forward (the lease runs out in seconds, not days),
 * the preview stack requested from a Jira issue, and the reads that watch it.
 */
import type { Clock } from '../engine/model.ts';
import type { Stack, StackPhase } from '../workflow/stack-store.ts';
import { PEOPLE } from '../../sandbox/jira/index.ts';
import type { StoryWorld } from './story.ts';
import { waitFor } from './wait.ts';

/** A clock that starts at `start` and runs with real time, moved forward by {@link MovableClock.advance}. */
export interface MovableClock extends Clock {
  advance(ms: number): void;
}

/** A {@link MovableClock} starting at `start`. */
export function movableClock(start: Date): MovableClock {
  let offset = start.getTime() - Date.now();
  return {
    now: () => new Date(Date.now() + offset),
    advance: (ms) => void (offset += ms),
  };
}

/** Who sets the stage. */
const STAGE = { actor: 'platform-admin', surface: 'cli' as const };

/** The versions the preview stack uses (but `except`), signed off by QA (preview environments are outside dev). */
export async function attestPreviewBundles(world: StoryWorld, except: string[] = []): Promise<void> {
  const { engine } = world.runtime.opened;
  const all = [['postgres-database', '1.4.0'], ['redis-cache', engine.registry.get('redis-cache').version], ['checkout-api', '2.14.0']] as const;
  for (const [bundle, version] of all.filter(([b]) => !except.includes(b))) {
    const signed = (await engine.attestations.list(bundle, version)).some((a) => a.kind === 'qa-signed');
    if (!signed) await engine.attest(bundle, version, 'qa-signed', 'quinn', STAGE);
  }
}

/** A developer opens an issue whose description asks for the preview stack as environment `name`; its key. */
export function requestPreviewStack(world: StoryWorld, name: string): string {
  // The description is the command: the issue is the stack's ticket from the start.
  const issue = world.sandbox.as(PEOPLE.developer).createIssue({
    project: 'INFRA',
    issueType: 'Infrastructure request',
    summary: `Preview environment ${name}`,
    description: `/stack preview-checkout ${name} --labels owner=dev --replicas 1`,
  });
  return issue.key;
}

/** The stack of environment `id` once it is in `phase` (and not stopped on a failure). */
export async function stackIn(world: StoryWorld, id: string, phase: StackPhase, timeoutMs = 120_000): Promise<Stack> {
  const store = world.runtime.opened.engine.stacks!;
  return waitFor(async () => {
    const s = await store.find(id);
    if (s?.failed) throw new Error(`stack ${id} stopped: ${s.failed.package} ${s.failed.message}`);
    return s?.phase === phase ? s : undefined;
  }, `stack ${id} ${phase}`, timeoutMs);
}
