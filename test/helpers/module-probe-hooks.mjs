// Loader hooks of the module probe (see module-probe.mjs): records each loaded module's URL.
import { appendFileSync } from 'node:fs';

export async function load(url, context, next) {
  if (process.env.MODULE_PROBE_FILE) appendFileSync(process.env.MODULE_PROBE_FILE, `${url}\n`);
  return next(url, context);
}
