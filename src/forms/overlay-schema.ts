/**
 * The JSON Schema of a form overlay (forms/<bundle>.yaml). Documented for people in
 * forms/README.md; checked with ajv by overlay.ts, whose errors name the file, line and key.
 */
import type { JsonSchema } from '../engine/model.ts';

const pointer = { type: 'string', pattern: '^(/[^/]+)+$', description: 'JSON pointer into the bundle params, for example /storage/allocated' };

const SOURCE_SHAPES: Record<string, { required: string[]; properties: Record<string, unknown> }> = {
  versions: { required: ['bundle'], properties: { bundle: { type: 'string', minLength: 1 }, attestation: { type: 'string', minLength: 1 } } },
  environments: { required: [], properties: { project: { type: 'string', minLength: 1 } } },
  packages: { required: ['bundle'], properties: { bundle: { type: 'string', minLength: 1 }, environment: { type: 'string', minLength: 1 } } },
  'connection-enum': {
    required: [],
    properties: {
      connection: { type: 'string', minLength: 1 },
      options: { type: 'string', minLength: 1 },
      value: { type: 'string', minLength: 1 },
      label: { type: 'string', minLength: 1 },
    },
  },
};

// if/then per source (rather than oneOf) so that a mistake is reported against the shape the
// author meant, not against every shape at once.
const dynamicSource: JsonSchema = {
  type: 'object',
  required: ['source'],
  properties: { source: { enum: Object.keys(SOURCE_SHAPES) } },
  allOf: Object.entries(SOURCE_SHAPES).map(([name, shape]) => ({
    if: { properties: { source: { const: name } } },
    then: {
      additionalProperties: false,
      required: shape.required,
      properties: { source: true, ...shape.properties },
    },
  })),
};

const staticOptions: JsonSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['value'],
    properties: { value: true, label: { type: 'string', minLength: 1 } },
  },
};

const fieldCommon = {
  label: { type: 'string', minLength: 1, maxLength: 255 },
  help: { type: 'string', minLength: 1 },
  placeholder: { type: 'string' },
  required: { type: 'boolean' },
  widget: { enum: ['text', 'textarea', 'select', 'radio', 'labels', 'json'] },
};

/** JSON Schema (draft-07) of a form overlay document. */
export const OVERLAY_SCHEMA: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'ticket-surface form overlay',
  type: 'object',
  additionalProperties: false,
  required: ['bundle'],
  properties: {
    bundle: { type: 'string', minLength: 1, description: 'Name of the bundle this overlay is for.' },
    title: { type: 'string', minLength: 1, maxLength: 100 },
    description: { type: 'string' },
    presets: {
      description: 'Offer the schema examples (__name) as a Preset question: true, false, or a list of example names.',
      type: ['boolean', 'array'],
      items: { type: 'string', minLength: 1 },
      minItems: 1,
    },
    others: {
      enum: ['ask', 'omit'],
      description: 'What happens to params neither listed under fields nor fixed. Default: omit when fields is given, ask otherwise.',
    },
    fields: {
      type: 'array',
      items: {
        type: 'object',
        if: { required: ['request'] },
        then: {
          additionalProperties: false,
          properties: {
            request: { enum: ['environment', 'version', 'package', 'project'] },
            ...fieldCommon,
            options: dynamicSource,
          },
        },
        else: {
          additionalProperties: false,
          required: ['param'],
          properties: {
            param: pointer,
            ...fieldCommon,
            immutable: { type: 'boolean' },
            default: true,
            options: { if: { type: 'array' }, then: staticOptions, else: dynamicSource },
          },
        },
      },
    },
    fixed: {
      type: 'object',
      description: 'Params ops decide: not asked, always supplied with this value.',
      propertyNames: pointer,
      additionalProperties: true,
    },
    sections: {
      type: 'object',
      propertyNames: { type: 'string', pattern: '^(/[^/]+)*$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { title: { type: 'string', minLength: 1 }, description: { type: 'string' } },
      },
    },
  },
};
