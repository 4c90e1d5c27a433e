import type { BundleRegistry } from '../engine/registry/index.ts';
import type { Bundle } from '../engine/model.ts';
import { buildForm } from './build-form.ts';
import { findOverlayFile, loadOverlay } from './overlay.ts';
import type { Form } from './model.ts';

/**
 * The forms of every bundle version in the registry, each built from the bundle's params
 * schema and its overlay in the forms directory. Built lazily and cached per bundle@version.
 */
export class FormCatalog {
  private readonly cache = new Map<string, Promise<Form>>();

  constructor(
    private readonly registry: BundleRegistry,
    private readonly formsDir: string,
  ) {}

  /** The form of `bundle@version` (latest version when omitted). Overlay mistakes throw OverlayError. */
  form(bundle: string, version?: string): Promise<Form> {
    const b = this.registry.get(bundle, version);
    const key = `${b.name}@${b.version}`;
    let f = this.cache.get(key);
    if (!f) {
      f = this.build(b);
      this.cache.set(key, f);
      f.catch(() => this.cache.delete(key));
    }
    return f;
  }

  /** Every latest bundle's form. */
  async all(): Promise<Form[]> {
    const names = [...new Set(this.registry.list().map((b) => b.name))].sort();
    return Promise.all(names.map((n) => this.form(n)));
  }

  private async build(bundle: Bundle): Promise<Form> {
    const file = await findOverlayFile(this.formsDir, bundle.name);
    return buildForm(bundle, file ? await loadOverlay(file) : undefined);
  }
}
