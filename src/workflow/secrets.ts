/**
 * Secrets as the workflow wires them: where a package's or a request's `$md.sensitive` values
 * are (the bundle's params schema and the artifact definitions of what it produces, read from
 * the registry), the secret box that seals them in Redis, and the masked views of packages and
 * requests that API answers carry. The hiding itself is `engine/redact.ts`.
 */
import type { Config } from '../config.ts';
import { NotFoundError } from '../engine/errors.ts';
import type { SensitivePointersLookup } from '../engine/inventory.ts';
import type { Bundle, Package, Request } from '../engine/model.ts';
import { MASK, redactRecord } from '../engine/redact.ts';
import { BundleRegistry, escapeToken, sensitivePointers, splitPointer } from '../engine/registry/index.ts';
import { loadSecretBox, type SecretBox } from '../engine/secret-box.ts';

/** Param pointers of a bundle (computed once per loaded bundle). */
const paramMarks = new WeakMap<Bundle, string[]>();

/** The bundle version, or undefined when the registry does not hold it (its marks are then unknown). */
function findBundle(registry: BundleRegistry, name: unknown, version: unknown): Bundle | undefined {
  if (typeof name !== 'string') return undefined;
  try {
    return registry.get(name, typeof version === 'string' ? version : undefined);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

function paramPointersOf(bundle: Bundle | undefined): string[] {
  if (!bundle) return [];
  let found = paramMarks.get(bundle);
  if (!found) paramMarks.set(bundle, (found = sensitivePointers(bundle.params)));
  return found;
}

/** Pointers into one produced artifact; undefined when its definition is unknown (the whole artifact is then sensitive). */
function artifactPointersOf(registry: BundleRegistry, bundle: Bundle | undefined, artifact: string): string[] | undefined {
  const type = bundle?.artifactTypes[artifact];
  if (!type) return undefined;
  try {
    return registry.artifactDefinition(type).sensitivePointers;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * How a request keeps a param in `submitted`: under the param's own pointer (an API caller's
 * nested object) or under the form's machine name (`/db/password` → `db__password`).
 */
function submittedPointers(paramPointer: string): string[] {
  const segments = splitPointer(paramPointer);
  if (segments.length === 0) return ['/submitted'];
  const machine = segments.map((s) => s.toLowerCase().replace(/[^a-z0-9_*]+/g, '_')).join('__');
  return [`/submitted${paramPointer}`, `/submitted/${escapeToken(machine)}`];
}

function packagePointers(registry: BundleRegistry, pkg: Record<string, unknown>): string[] {
  const bundle = findBundle(registry, pkg.bundle, pkg.version);
  const params = paramPointersOf(bundle);
  const out = ['desiredParams', 'lastAppliedParams', 'observedParams'].flatMap((member) => params.map((p) => `/${member}${p}`));
  const artifacts = pkg.artifacts && typeof pkg.artifacts === 'object' ? Object.keys(pkg.artifacts) : [];
  for (const name of artifacts) {
    const at = `/artifacts/${escapeToken(name)}`;
    const pointers = artifactPointersOf(registry, bundle, name);
    out.push(...(pointers ? pointers.map((p) => `${at}${p}`) : [at]));
  }
  return out;
}

function requestPointers(registry: BundleRegistry, request: Record<string, unknown>): string[] {
  const params = paramPointersOf(findBundle(registry, request.bundle, request.version));
  return params.flatMap((p) => [`/params${p}`, ...submittedPointers(p)]);
}

/** Where the secrets of a package or a request are, by the registry's `$md.sensitive` marks. */
export function registrySensitivePointers(registry: BundleRegistry): SensitivePointersLookup {
  return (kind, record) => {
    if (kind === 'package') return packagePointers(registry, record);
    if (kind === 'request') return requestPointers(registry, record);
    return [];
  };
}

/**
 * What the inventory needs to keep secrets: where they are, and the secret box of this
 * process (SECRETS_KEY, or a development key created in DATA_DIR, announced by `onGenerated`).
 */
export async function secretStorage(
  config: Config,
  registry: BundleRegistry,
  onGenerated: (path: string) => void = (path) => process.emitWarning(`no SECRETS_KEY configured: sensitive values are encrypted with a development key generated in ${path}`),
): Promise<{ sensitivePointersFor: SensitivePointersLookup; secretBox: SecretBox }> {
  const secretBox = await loadSecretBox({
    ...(config.SECRETS_KEY ? { key: config.SECRETS_KEY } : {}),
    oldKeys: config.SECRETS_KEYS_OLD,
    dataDir: config.DATA_DIR,
    onGenerated,
  });
  return { sensitivePointersFor: registrySensitivePointers(registry), secretBox };
}

/**
 * A package as an API answer shows it: sensitive params and artifact fields masked; an artifact
 * of an unknown type is masked whole, as `{ masked: "[sensitive]" }` (an artifact stays an object).
 */
export function maskPackage(registry: BundleRegistry, pkg: Package): Package {
  const masked = redactRecord(pkg, packagePointers(registry, pkg as unknown as Record<string, unknown>), pkg, MASK);
  const artifacts: Package['artifacts'] = {};
  for (const [name, value] of Object.entries(masked.artifacts ?? {})) artifacts[name] = typeof value === 'string' ? { masked: value } : value;
  return { ...masked, artifacts };
}

/** A request as an API answer shows it: sensitive params, and the answers that carried them, masked. */
export function maskRequest(registry: BundleRegistry, request: Request): Request {
  return redactRecord(request, requestPointers(registry, request as unknown as Record<string, unknown>), request, MASK);
}
