/**
 * The forms room: bundle params schema + ui schema + overlay -> surface-neutral form; answers ->
 * typed params. Renderers live with their surface (src/surfaces/<surface>/form-renderer.ts).
 */
export type * from './model.ts';
export { buildForm } from './build-form.ts';
export { parseOverlay, loadOverlay, findOverlayFile, type Overlay, type OverlayDoc, type OverlayField } from './overlay.ts';
export { OVERLAY_SCHEMA } from './overlay-schema.ts';
export { OverlayError } from './errors.ts';
export { resolveDynamicOptions, sourceKey, type OptionSources } from './option-sources.ts';
export { FormValues, mapAnswers, checkImmutable, coerceAnswer, matchOption, isEmptyAnswer, answerFor, type Answer, type Answers, type MapOptions } from './values.ts';
export { describeIssue } from './messages.ts';
export { describeField, describeRules } from './describe.ts';
export { sampleValue } from './samples.ts';
export { generateLargeBundle } from './generate.ts';
export { translatePattern } from './regex.ts';
