/**
 * Filing a request for the bench-only `noop` bundle (bench/fixtures/bundles/noop) through the
 * Jira sandbox's UI path, the way `fileDatabaseRequest` files the story's database request.
 */
import { fileURLToPath } from 'node:url';
import type { StoryWorld, StoryWorldOptions } from '../../src/demo/story.ts';

/** Where the no-op scenario's fixtures live, as `startStoryWorld` options. */
export function noopWorldOptions(): Pick<StoryWorldOptions, 'bundlePaths' | 'policyFile' | 'formsDir'> {
  const at = (p: string) => fileURLToPath(new URL(`../fixtures/${p}`, import.meta.url));
  return { bundlePaths: [at('bundles')], policyFile: at('policy-noop.yaml'), formsDir: at('forms') };
}

/** What a requester types into the noop form. */
export interface NoopAnswers {
  /** Package name inside the environment. */
  package: string;
  /** The noop bundle's `label` param. */
  label: string;
  /** The noop bundle's `size` param (default 1). */
  size?: number;
  /** Environment (default staging). */
  environment?: string;
}

/** Files a noop request in INFRA as `accountId`; returns the issue key. Needs the forms synced. */
export async function fileNoopRequest(world: StoryWorld, accountId: string, a: NoopAnswers): Promise<string> {
  const ids = await world.runtime.ids.all('jira');
  const f = (key: string): string => {
    const id = ids[key];
    if (!id) throw new Error(`field ${key} was not synced (is the noop bundle loaded and its form synced?)`);
    return id;
  };
  const fields: Record<string, unknown> = {
    [f('request/bundle')]: { value: 'noop' },
    [f('request/environment')]: { value: a.environment ?? 'staging' },
    [f('request/package')]: a.package,
    [f('noop/label')]: a.label,
    [f('noop/size')]: a.size ?? 1,
  };
  const issue = world.sandbox.as(accountId).createIssue({ project: 'INFRA', issueType: 'Infrastructure request', summary: `No-op ${a.package}`, fields });
  return issue.key;
}
