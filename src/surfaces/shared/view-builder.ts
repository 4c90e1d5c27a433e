import type { Engine } from '../../workflow/engine.ts';
import { NotFoundError } from '../../engine/errors.ts';
import type { Clock, Deployment, Environment, Package, Request } from '../../engine/model.ts';
import type { ChangeWindowService } from '../../policy/index.ts';
import { buildRequestView, describeWindow, type ArtifactInput, type RequestView, type SurfaceHints } from './request-view.ts';

/**
 * Gathers what a {@link RequestView} needs beyond the request itself (package, produced
 * artifacts with their definitions, the next change window, the deployment's duration), for
 * every surface alike. Sensitive artifact values are dropped by `buildRequestView`.
 */
export class ViewBuilder {
  constructor(
    private readonly engine: Engine,
    private readonly windows: ChangeWindowService,
    private readonly clock: Clock,
  ) {}

  /** The view of `request` with the surface's own hints (how to approve, retry, edit). */
  async build(request: Request, hints: SurfaceHints = {}): Promise<RequestView> {
    // Package, environment and deployment in one round trip.
    const [pkg, env, dep] = (await this.engine.inventory.findEach([
      { kind: 'package', id: request.package },
      { kind: 'environment', id: request.environment },
      { kind: 'deployment', id: request.deployment },
    ])) as [Package | undefined, Environment | undefined, Deployment | undefined];
    let window: RequestView['window'];
    if (env && ['planned', 'awaiting_approval', 'approved', 'scheduled'].includes(request.state)) {
      try {
        const w = await this.windows.nextWindow({ name: env.name, labels: env.labels }, this.clock.now());
        if (w) window = describeWindow(env.name, { start: w.start, end: w.end ?? w.start, zone: w.zone }, this.clock.now());
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    const artifacts: ArtifactInput[] = [];
    if (pkg && request.state === 'applied') {
      const bundle = this.engine.registry.get(pkg.bundle, pkg.version);
      for (const [name, value] of Object.entries(pkg.artifacts)) {
        const type = bundle.artifactTypes[name];
        let definition: ArtifactInput['definition'];
        try {
          definition = type ? this.engine.registry.artifactDefinition(type) : undefined;
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
        // Without a definition nothing can be shown safely.
        if (definition) artifacts.push({ name, definition, value });
      }
    }
    let deployment: RequestView['deployment'];
    if (dep) {
      deployment = {
        id: dep.id,
        ...(dep.startedAt && dep.finishedAt ? { durationMs: Date.parse(dep.finishedAt) - Date.parse(dep.startedAt) } : {}),
        ...(dep.finishedAt ? { finishedAt: dep.finishedAt } : {}),
      };
    }
    const entered: Record<string, string> = {};
    for (const issue of request.issues ?? []) {
      const name = issue.pointer.replace(/^\//, '');
      const v = request.submitted?.[name];
      if (typeof v === 'string' || typeof v === 'number') entered[issue.pointer] = String(v);
    }
    return buildRequestView(request, {
      ...(pkg ? { packageName: pkg.id } : request.package ? { packageName: request.package } : {}),
      ...(pkg && request.version && pkg.version !== request.version && request.state !== 'applied' ? { previousVersion: pkg.version } : {}),
      ...(window ? { window } : {}),
      hints,
      artifacts,
      ...(deployment ? { deployment } : {}),
      entered,
    });
  }
}
