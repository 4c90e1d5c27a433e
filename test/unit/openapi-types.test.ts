import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import openapiTS, { astToString } from 'openapi-typescript';
import { parse } from 'yaml';

const ROOT = new URL('../../', import.meta.url);

test('contracts/openapi.yaml is OpenAPI 3.1 and documents every v1 route the app serves', () => {
  const doc = parse(readFileSync(new URL('contracts/openapi.yaml', ROOT), 'utf8')) as { openapi: string; paths: Record<string, unknown> };
  assert.match(doc.openapi, /^3\.1\./);
  const app = readFileSync(new URL('src/surfaces/http/app.ts', ROOT), 'utf8');
  const routes = [...app.matchAll(/r\.(get|post|patch|put|delete)\('([^']+)'/g)].map((m) => `/v1${m[2]!.replace(/:(\w+)/g, '{$1}')}`);
  assert.ok(routes.length > 5);
  for (const r of routes) assert.ok(doc.paths[r], `route ${r} is missing from contracts/openapi.yaml`);
});

test('generated API types are not stale (run `npm run gen:api` after editing the contract)', async () => {
  const ast = await openapiTS(new URL('contracts/openapi.yaml', ROOT));
  const fresh = astToString(ast);
  const committed = readFileSync(new URL('src/surfaces/http/openapi-types.ts', ROOT), 'utf8');
  const body = (s: string) => s.replace(/^\/\*\*[\s\S]*?\*\/\s*/, '').trim();
  assert.equal(body(committed), body(fresh));
});
