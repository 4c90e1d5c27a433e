import type { Engine } from './engine.ts';
import type { DynamicOptionSource, FieldOption, FormContext } from '../forms/model.ts';
import type { OptionSources } from '../forms/option-sources.ts';

/**
 * Dynamic form options read from the engine: versions carrying an attestation (newest first,
 * with who signed and when), environments, packages of a bundle.
 */
export class EngineOptionSources implements OptionSources {
  constructor(private readonly engine: Engine) {}

  /** {@inheritDoc OptionSources.options} */
  async options(source: DynamicOptionSource, ctx: FormContext): Promise<FieldOption[]> {
    switch (source.source) {
      case 'versions': {
        if (!source.attestation) return this.engine.registry.versions(source.bundle).map((v) => ({ value: v, label: v }));
        const known = new Set(this.engine.registry.versions(source.bundle));
        const attested = await this.engine.attestations.versionsWith(source.bundle, source.attestation);
        return attested
          .filter((a) => known.has(a.version))
          .map((a) => ({ value: a.version, label: `${a.version} (${source.attestation} by ${a.by}, ${a.at.slice(0, 10)})`, note: `${a.by}, ${a.at.slice(0, 10)}` }));
      }
      case 'environments': {
        const project = source.project ?? ctx.project;
        const envs = await this.engine.listEnvironments(project ? { project } : {});
        const names = [...new Set(envs.map((e) => e.name))].sort();
        return names.map((n) => ({ value: n, label: n }));
      }
      case 'packages': {
        const pkgs = await this.engine.listPackages({ bundle: source.bundle });
        return pkgs.filter((p) => !source.environment || p.environment.endsWith(`-${source.environment}`)).map((p) => ({ value: p.name, label: p.id }));
      }
      default:
        return [];
    }
  }
}
