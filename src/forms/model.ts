/**
 * The surface-neutral form model: the questions asked for a bundle, derived from its `params`
 * schema, its `ui` schema and an optional overlay (forms/<bundle>.yaml). Renderers in
 * src/surfaces/<surface>/ turn a {@link Form} into that surface's field specs; the reverse
 * mapping ({@link ./values.ts}) turns answers back into typed params. Nothing here knows a
 * surface.
 */
import type { Json, JsonSchema } from '../engine/model.ts';
import type { FieldIssue } from '../engine/errors.ts';

/** What kind of input a field is. Every surface maps each of these to one of its own types. */
export type FieldType =
  | 'text'
  | 'textarea'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'select'
  | 'multiselect'
  | 'date'
  | 'datetime'
  | 'email'
  | 'url'
  /** A list of plain values (strings or numbers), one per line. */
  | 'list'
  /** Anything a ticket field cannot hold (free-form objects, arrays of objects, mixed types): JSON text, validated on submit. */
  | 'json';

/** Where a field's answer goes: into the params, into the request (environment, version...), or picks a preset. */
export type FieldTarget = 'params' | 'request' | 'preset';

/** Request-level answers a form may ask for (not params of the bundle). */
export type RequestFieldName = 'environment' | 'version' | 'package' | 'project';

/** One choice of a select or multiselect. `value` is what lands in params; `label` what a person sees. */
export interface FieldOption {
  value: Json;
  label: string;
  /** Extra words shown beside the label (for example who attested a version, and when). */
  note?: string;
}

/** Numeric, length and item-count limits copied from the schema. */
export interface FieldBounds {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
}

/**
 * A dynamic option source declared by an overlay (or, for `connection-enum`, by `$md.enum` in the
 * schema). Resolved through an {@link ./option-sources.ts OptionSources} port at render time.
 */
export type DynamicOptionSource =
  | { source: 'versions'; bundle: string; attestation?: string }
  | { source: 'environments'; project?: string }
  | { source: 'packages'; bundle: string; environment?: string }
  | { source: 'connection-enum'; connection: string; options: string; value: string; label?: string };

/** The condition under which a conditional question applies: the answer at `pointer` is one of `values` (or, with `present`, given at all). */
export interface FieldCondition {
  /** JSON pointer (into params) of the deciding field. */
  pointer: string;
  /** Label of the deciding field, for help text. */
  label: string;
  /** Values that switch the question on. Empty with `present: true` means "when answered at all". */
  values: Json[];
  present?: boolean;
  /** Whether the question must be answered when the condition holds. */
  requiredThen: boolean;
  /** Plain words, for example "Asked when Storage Type is Provisioned IOPS (then required)". */
  text: string;
}

/** One question of a form. */
export interface FormField {
  /** For `params`: JSON pointer into params (`/storage/allocated`). For `request`: the request key. For `preset`: `preset`. */
  key: string;
  target: FieldTarget;
  /** Stable machine name, unique in the form, `[a-z0-9_]` only: the surfaces' variable / field identity. */
  name: string;
  label: string;
  help?: string;
  placeholder?: string;
  type: FieldType;
  /** Must be answered (conditional questions are never required here: see `condition`). */
  required: boolean;
  bounds: FieldBounds;
  /** ECMAScript pattern as written in the schema (POSIX classes translated, see regex.ts). */
  pattern?: string;
  /** Massdriver's `message.pattern`: what to say when the pattern does not match. */
  patternMessage?: string;
  /** Static options (select, multiselect, boolean's yes/no are not listed). */
  options?: FieldOption[];
  /** Dynamic option source; `options` holds the last resolved list (empty until resolved). */
  source?: DynamicOptionSource;
  /** For `list`: the type of each item. */
  itemType?: 'string' | 'number' | 'integer';
  default?: Json;
  /** Id of the section the field sits in (`''` for the top level). */
  section: string;
  /** Position in the form, 1-based, gaps allowed. */
  order: number;
  /** Cannot change after creation (`$md.immutable` or overlay). */
  immutable: boolean;
  /** Set for conditional questions (from `dependencies`, `oneOf` branches, `if/then`). */
  condition?: FieldCondition;
  /** The property's own schema (refs resolved), for JSON fields and error messages. */
  schema: JsonSchema;
  /** Explicit widget hint from the overlay or `ui:widget` (renderers may honour it). */
  widget?: string;
}

/** A group of fields: one nested object of params (each surface renders it as its own kind of group). */
export interface FormSection {
  /** JSON pointer of the object (`''` for the top level). */
  id: string;
  title: string;
  description?: string;
  order: number;
}

/** A param ops decided, not asked: supplied on every submission. */
export interface FixedValue {
  pointer: string;
  value: Json;
  immutable: boolean;
}

/** A param that is neither asked nor fixed, and why. */
export interface OmittedParam {
  pointer: string;
  reason: 'overlay' | 'sensitive' | 'const';
  /** Value the engine will use (schema default or const), if any. */
  default?: Json;
}

/** A named starting point from the schema's `examples` (`__name`), flattened to field pointers. */
export interface FormPreset {
  name: string;
  values: Record<string, Json>;
}

/** The questions asked for one bundle version. */
export interface Form {
  bundle: string;
  version: string;
  title: string;
  description?: string;
  sections: FormSection[];
  /** Ordered questions (request fields, the preset, then params, unless the overlay orders otherwise). */
  fields: FormField[];
  fixed: FixedValue[];
  omitted: OmittedParam[];
  presets: FormPreset[];
  /** The bundle's params schema, for validation on submit. */
  paramsSchema: JsonSchema;
  /** Non-fatal findings, for example a sensitive required param that no ticket may ask for. */
  problems: FieldIssue[];
  /** Overlay file the form was built with, if any. */
  overlayFile?: string;
}

/** Context for resolving dynamic options (which project, environment and connections a request is about). */
export interface FormContext {
  project?: string;
  environment?: string;
  /** Connection name -> package id it is bound to (for `connection-enum`). */
  connections?: Record<string, string>;
}

/** The result of mapping submitted answers back to params. */
export type SubmitResult =
  | { ok: true; params: Record<string, unknown>; request: Partial<Record<RequestFieldName, string>>; preset?: string }
  | { ok: false; issues: FieldIssue[] };
