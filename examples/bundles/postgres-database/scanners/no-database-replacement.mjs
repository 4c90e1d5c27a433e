// Scanner: finds plan changes that would silently lose a database's data by replacing it
// (["delete","create"] on a postgresql_database, for example after a rename). Decommissioning
// (a plain delete) is left to the approval policy. Reads the plan JSON at MD_PLAN_FILE; exits 1
// with one line per finding on stdout, 0 when there is none.
import { readFileSync } from 'node:fs';

const plan = JSON.parse(readFileSync(process.env.MD_PLAN_FILE, 'utf8'));
const findings = (plan.resource_changes ?? []).filter(
  (rc) => rc.type === 'postgresql_database' && rc.change?.actions?.includes('delete') && rc.change.actions.includes('create'),
);
for (const rc of findings) {
  const from = rc.change.before?.name ?? '?';
  const to = rc.change.after?.name ?? '?';
  process.stdout.write(`${rc.address} would be replaced (${from} -> ${to}): its data is lost unless restored from a backup\n`);
}
process.exitCode = findings.length ? 1 : 0;
