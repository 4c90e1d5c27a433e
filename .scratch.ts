import { parseOverlay } from './src/forms/overlay.ts';
try { parseOverlay('title: x\nfields:\n  - param: /zone\n    options: { source: versoins, bundle: a }\n  - param: zone\n  - request: env\nfixed:\n  zone: 1\n', 'forms/x.yaml'); } catch (e) { console.log((e as Error).message); }
