import { BundleRegistry } from './src/engine/registry/index.ts';
import { buildForm } from './src/forms/build-form.ts';
import { sampleValue } from './src/forms/samples.ts';
import { renderServiceNowForm, renderServiceNowText } from './src/surfaces/servicenow/form-renderer.ts';
import { renderJiraForm, renderJiraText } from './src/surfaces/jira/form-renderer.ts';
const root = new URL('./test/fixtures/massdriver/', import.meta.url).pathname;
const reg = new BundleRegistry({ bundlePaths: [root], artifactDefinitionPaths: [root + 'artifact-definitions', root + 'massdriver-catalog/resource-types'] });
await reg.loadAll();
for (const b of reg.list()) {
  const form = buildForm(b);
  for (const f of form.fields) console.log(b.name, f.key, f.type, 'default', JSON.stringify(f.default), 'sample', JSON.stringify(sampleValue(f, form.presets.map(p=>p.values[f.key]).filter(v=>v!==undefined))));
}
const f = buildForm(reg.get('postgres'));
console.log(renderServiceNowText(renderServiceNowForm(f)));
console.log(renderJiraText(renderJiraForm(buildForm(reg.get('aws-rds-postgres')))).slice(0,3000));
