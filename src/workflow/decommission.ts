/**
 * Giving a package back: the `decommission` request. Its evaluation finds the live package the
 * request names, plans its destroy (every resource marked for deletion, so the ticket shows the
 * destructive warning), and asks policy as for any change: the environment's requesters, kinds,
 * approvals and windows, the rules (a destructive plan in production needs its extra approval),
 * plus one check of its own: a package whose artifacts another live package consumes is refused
 * naming those consumers, unless the environment's policy says `decommission.with_consumers:
 * allow`. The apply is the engine's destroy (steps in reverse order, `skip_on_delete` skipped);
 * it leaves the package `decommissioned`, its artifacts withdrawn and its cost at zero.
 *
 * The request workflow (workflow.ts) calls in here from small hooks; the moves between states
 * stay there, so a decommission is stored, owed and recovered like every other request.
 */
import type { DeploymentOutcome, DeploymentRunner } from '../engine/deployments.ts';
import type { FieldIssue } from '../engine/errors.ts';
import type { Actor, Clock, DeploymentAction, Environment, Origin, Package, PolicyDecision, Request } from '../engine/model.ts';
import { evaluatePolicy, matchEnvironment, type Directory, type Policy } from '../policy/index.ts';
import type { Engine } from './engine.ts';

/** The rule name of the consumers check, as decisions and tickets show it. */
export const CONSUMERS_RULE = 'decommission-consumers';

/** What planning a decommission needs. */
export interface DecommissionDeps {
  engine: Engine;
  runner: DeploymentRunner;
  policy: Policy;
  clock: Clock;
  /** Who is who on the request's surface (the requester check). */
  directory: Directory;
}

/** A decommission that can be planned: the package, its destroy plan and what policy decides. */
export interface PlannedDecommission {
  pkg: Package;
  env: Environment;
  outcome: DeploymentOutcome;
  /** Empty when the plan itself failed (`outcome.error`). */
  decisions: PolicyDecision[];
}

/** True for a request that gives its package back. */
export function isDecommission(r: Pick<Request, 'kind'>): boolean {
  return r.kind === 'decommission';
}

/** The deployment action that applies request `r`: a destroy for a decommission, else an apply. */
export function applyAction(r: Pick<Request, 'kind'>): Extract<DeploymentAction, 'apply' | 'destroy'> {
  return isDecommission(r) ? 'destroy' : 'apply';
}

/**
 * What a surface hands the workflow's `submit` to give package `pkg` back: a decommission
 * request by `actor`, filed from `origin` (a ticket, the CLI, the API).
 */
export function decommissionIntake(pkg: Package, actor: Actor, origin: Origin) {
  return {
    kind: 'decommission' as const,
    actor,
    origin,
    project: pkg.project,
    bundle: pkg.bundle,
    version: pkg.version,
    environment: pkg.environment.slice(pkg.project.length + 1),
    packageName: pkg.name,
    answers: {},
  };
}

/** The package id a decommission request names (its stored package, else environment + name). */
export function decommissionTarget(r: Request): string {
  if (r.package) return r.package;
  const name = String(r.submitted?.request_package ?? r.bundle).trim();
  return `${r.environment}-${name}`;
}

/** Packages still standing whose connections point at package `id`, with the artifact each uses. */
export async function consumersOf(engine: Engine, id: string): Promise<{ pkg: Package; artifact: string }[]> {
  const out: { pkg: Package; artifact: string }[] = [];
  for (const pkg of await engine.inventory.list('package')) {
    if (pkg.id === id || pkg.status === 'decommissioned') continue;
    const binding = Object.values(pkg.connections ?? {}).find((c) => c.package === id);
    if (binding) out.push({ pkg, artifact: binding.artifact });
  }
  return out.sort((a, b) => a.pkg.id.localeCompare(b.pkg.id));
}

/**
 * The environment and live package decommission request `r` names, or the issues that stop it
 * (no such environment, no such package, or nothing left to give back).
 */
async function target(engine: Engine, r: Request): Promise<{ env: Environment; pkg: Package } | { issues: FieldIssue[] }> {
  const env = await engine.inventory.find('environment', r.environment);
  if (!env) return { issues: [{ pointer: '/environment', field: 'Environment', message: `unknown environment "${r.environment}"` }] };
  const id = decommissionTarget(r);
  const pkg = await engine.inventory.find('package', id);
  if (!pkg) return { issues: [{ pointer: '/package', field: 'Package', message: `there is no package ${id} to decommission` }] };
  if (pkg.bundle !== r.bundle) return { issues: [{ pointer: '/bundle', field: 'Bundle', message: `${id} is a ${pkg.bundle} package, not ${r.bundle}` }] };
  if (pkg.status === 'decommissioned' || pkg.status === 'new') {
    return { issues: [{ pointer: '/package', field: 'Package', message: `${id} is ${pkg.status === 'new' ? 'not created yet' : 'decommissioned already'}: nothing to give back` }] };
  }
  return { env, pkg };
}

/** The consumers check: allow when nothing consumes the package (or policy allows it), else deny naming them. */
async function consumersDecision(deps: DecommissionDeps, env: Environment, pkg: Package): Promise<PolicyDecision> {
  const consumers = await consumersOf(deps.engine, pkg.id);
  if (consumers.length === 0) return { rule: CONSUMERS_RULE, outcome: 'allow', reason: `No package consumes what ${pkg.id} produces` };
  const uses = consumers.map((c) => `${c.pkg.id} uses its ${c.artifact}`).join('; ');
  const allowed = matchEnvironment(deps.policy, { name: env.name, labels: env.labels })?.decommission?.withConsumers === 'allow';
  if (allowed) return { rule: CONSUMERS_RULE, outcome: 'warn', reason: `${uses}; policy allows decommissioning it anyway, and they lose that connection` };
  const them = consumers.length === 1 ? 'that' : 'those';
  return { rule: CONSUMERS_RULE, outcome: 'deny', reason: `Blocked while ${uses} (decommission ${them} first)` };
}

/** What policy decides about giving `pkg` back with the destroy plan in `outcome`. */
async function decommissionDecisions(deps: DecommissionDeps, r: Request, env: Environment, pkg: Package, outcome: DeploymentOutcome): Promise<PolicyDecision[]> {
  const attestations = (await deps.engine.attestations.list(pkg.bundle, pkg.version)).map(({ version: _v, ...att }) => att);
  const policy = await evaluatePolicy(
    deps.policy,
    {
      kind: 'decommission',
      actor: r.actor,
      environment: { name: env.name, labels: env.labels },
      bundle: pkg.bundle,
      version: pkg.version,
      params: pkg.lastAppliedParams ?? pkg.desiredParams,
      attestations,
      plan: outcome.deployment.plan ?? { destructive: true },
      ...(outcome.cost ? { costDelta: outcome.cost.delta } : {}),
    },
    { directory: deps.directory, clock: deps.clock },
  );
  return [...policy, await consumersDecision(deps, env, pkg), ...outcome.decisions];
}

/**
 * Plans decommission request `r`: the issues that stop it, or its package, the destroy plan
 * and the policy decisions (none when the plan failed). Changes nothing but the plan record.
 */
export async function planDecommission(deps: DecommissionDeps, r: Request): Promise<PlannedDecommission | { issues: FieldIssue[] }> {
  const found = await target(deps.engine, r);
  if ('issues' in found) return found;
  const { env, pkg } = found;
  const outcome = await deps.runner.plan(pkg.id, { request: r.id, mode: 'destroy', params: pkg.lastAppliedParams ?? pkg.desiredParams, version: pkg.version });
  if (outcome.error) return { env, pkg, outcome, decisions: [] };
  return { env, pkg, outcome, decisions: await decommissionDecisions(deps, r, env, pkg, outcome) };
}
