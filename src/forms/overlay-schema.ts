/**
 * The JSON Schema of a form overlay (forms/<bundle>.yaml). Documented for people in
 * forms/README.md; checked with ajv by overlay.ts, whose errors name the file, line and key.
 */
import type { JsonSchema } from '../engine/model.ts';

const pointer = { type: 'string', pattern: '^(/[^/]+)+$', description: 'JSON pointer into the bundle params, for example /storage/allocated' };

const dynamicSource: JsonSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'bundle'],
      properties: {
        source: { const: 'versions' },
        bundle: { type: 'string', minLength: 1 },
        attestation: { type: 'string', minLength: 1 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: { source: { const: 'environments' }, project: { type: 'string', minLength: 1 } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'bundle'],
      properties: {
        source: { const: 'packages' },
        bundle: { type: 'string', minLength: 1 },
        environment: { type: 'string', minLength: 1 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['source'],
      properties: {
        source: { const: 'connection-enum' },
        connection: { type: 'string', minLength: 1 },
        options: { type: 'string', minLength: 1 },
        value: { type: 'string', minLength: 1 },
        label: { type: 'string', minLength: 1 },
      },
    },
  ],
};

const staticOptions: JsonSchema = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['value'],
    properties: { value: {}, label: { type: 'string', minLength: 1 } },
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
      oneOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 }],
    },
    others: {
      enum: ['ask', 'omit'],
      description: 'What happens to params neither listed under fields nor fixed. Default: omit when fields is given, ask otherwise.',
    },
    fields: {
      type: 'array',
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['param'],
            properties: {
              param: pointer,
              ...fieldCommon,
              immutable: { type: 'boolean' },
              default: {},
              options: { oneOf: [dynamicSource, staticOptions] },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['request'],
            properties: {
              request: { enum: ['environment', 'version', 'package', 'project'] },
              ...fieldCommon,
              options: dynamicSource,
            },
          },
        ],
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
