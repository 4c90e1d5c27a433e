import { BundleRegistry } from './src/engine/registry/index.ts';
import { buildForm } from './src/forms/build-form.ts';
import { describeField } from './src/forms/describe.ts';
const root = new URL('./test/fixtures/massdriver/', import.meta.url).pathname;
const reg = new BundleRegistry({ bundlePaths: [root], artifactDefinitionPaths: [root + 'artifact-definitions', root + 'massdriver-catalog/resource-types'] });
const issues = await reg.loadAll();
console.log('issues', issues.length, issues.slice(0,3));
const r: any = reg;
console.log(Object.getOwnPropertyNames(Object.getPrototypeOf(reg)));
for (const b of (reg as any).list()) {
  const form = buildForm(b);
  console.log('==', b.name, b.version, form.title, 'fields', form.fields.length, 'fixed', form.fixed.length, 'omitted', form.omitted.length, 'sections', form.sections.map(s=>s.title).join('|'));
  for (const f of form.fields) console.log('  ', f.order, f.name, f.key, f.type, f.required?'REQ':'', f.immutable?'IMM':'', f.condition?.text ?? '', '|', describeField(f).slice(0,100));
}
