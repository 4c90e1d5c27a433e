/**
 * The command table: each command's name, usage, summary and how it runs. `--help` is made from
 * it; each command group's module is loaded only when one of its commands runs.
 */
import { lazy, type CliCommand } from './command.ts';

const bundle = () => import('./bundle-commands.ts');
const inventory = () => import('./inventory-commands.ts');
const audit = () => import('./audit-commands.ts');
const requests = () => import('./request-commands.ts');
const queries = () => import('./query-commands.ts');
const webhooks = () => import('./webhook-commands.ts');
const forms = () => import('./forms-commands.ts');
const deliveries = () => import('./delivery-commands.ts');
const doctor = () => import('./doctor-commands.ts');
const tokens = () => import('./token-commands.ts');
const lifecycle = () => import('./lifecycle-commands.ts');
const drift = () => import('./drift-commands.ts');
const stacks = () => import('./stack-commands.ts');

/** Every command, by name (one or two words), in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  'bundle lint': { usage: ['bundle lint <dir>'], summary: ['check a bundle; prints ok or each problem (file, JSON pointer)'], run: lazy(bundle, 'bundleLint') },
  'bundle list': { usage: ['bundle list [--json]'], summary: ['bundles and their versions'], run: lazy(bundle, 'bundleList') },
  'project create': { usage: ['project create <id> [--name N]'], summary: ['a project, the owner of environments'], run: lazy(inventory, 'projectCreate') },
  'env create': { usage: ['env create <project> <name> [--label key=value ...]'], summary: ['an environment of a project, with its labels'], run: lazy(inventory, 'envCreate') },
  'env list': { usage: ['env list [--project P] [--json]'], summary: [], run: lazy(inventory, 'envList') },
  'package create': {
    usage: ['package create --project P --env E --name N --bundle B [--version V]', '[--params file.json] [--set key=value ...]'],
    summary: ['a package: a bundle version with its params, in an environment'],
    run: lazy(inventory, 'packageCreate'),
  },
  'package show': { usage: ['package show <id> [--json] [--reveal]'], summary: ['(--reveal shows secrets to an admin; audited)'], run: lazy(inventory, 'packageShow') },
  'package list': { usage: ['package list [--project P] [--env E] [--json]'], summary: [], run: lazy(inventory, 'packageList') },
  attest: { usage: ['attest <bundle>@<version> <kind> --by <user> [--note text]'], summary: ['record an attestation (e.g. qa-signed)'], run: lazy(audit, 'attest') },
  'audit list': { usage: ['audit list [--limit N] [--json]'], summary: ['the last events, oldest first'], run: lazy(audit, 'auditList') },
  'audit verify': { usage: ['audit verify'], summary: ['check the audit hash chain; exit 1 at the first bad event'], run: lazy(audit, 'auditVerify') },
  'request list': { usage: ['request list [--state S] [--json]'], summary: [], run: lazy(requests, 'requestList') },
  'request show': { usage: ['request show <id> [--json]'], summary: [], run: lazy(requests, 'requestShow') },
  'request stuck': { usage: ['request stuck [--older-than 2m] [--json]'], summary: ['requests waiting without a job or outbox entry (exit 1 when any)'], run: lazy(requests, 'requestStuck') },
  query: {
    usage: ['query [<name> [args]] [--json]'],
    summary: ['read-only questions, for example: query most-expensive --top 5,', 'query where-runs redis-cache; without a name lists every query'],
    run: lazy(queries, 'query'),
  },
  'deliveries failed': { usage: ['deliveries failed [--json]'], summary: ['webhook deliveries intake gave up on (after a day of retries), with their last error'], run: lazy(deliveries, 'deliveriesFailed') },
  'deliveries replay': { usage: ['deliveries replay <surface:delivery-id>'], summary: ['queue a failed delivery again'], run: lazy(deliveries, 'deliveriesReplay') },
  'notices failed': { usage: ['notices failed [--json]'], summary: ['ticket writes the outbox gave up on (after a day of retries), with their last error'], run: lazy(deliveries, 'noticesFailed') },
  'notices replay': { usage: ['notices replay <notice-key>'], summary: ['queue a failed ticket write again'], run: lazy(deliveries, 'noticesReplay') },
  'token create': {
    usage: ['token create --person <id> --role <role> [--name label] [--expires date]'],
    summary: ['an API token for a person of the directory (admins only); printed once'],
    run: lazy(tokens, 'tokenCreate'),
  },
  'token list': { usage: ['token list [--person <id>] [--all] [--json]'], summary: ['API tokens (--all: revoked too), never their secrets'], run: lazy(tokens, 'tokenList') },
  'token revoke': { usage: ['token revoke <id> [--note why]'], summary: ['refuse the token from its next call on'], run: lazy(tokens, 'tokenRevoke') },
  'drift check': {
    usage: ['drift check <package> [--json]'],
    summary: ['compare reality with what was applied (changes nothing there);', 'prints each field that differs; exit 1 when any does'],
    run: lazy(drift, 'driftCheck'),
  },
  approve: { usage: ['approve <request>'], summary: ["approve the request's current plan (checked against policy)"], run: lazy(requests, 'approve') },
  reject: { usage: ['reject <request> [--note why]'], summary: [], run: lazy(requests, 'reject') },
  decommission: {
    usage: ['decommission <package>'],
    summary: ['give a package back: files a decommission request (destroy plan, policy, approvals, window)'],
    run: lazy(lifecycle, 'decommission'),
  },
  freeze: {
    usage: ['freeze <environment> --reason R [--until 2026-12-24T18:00Z]'],
    summary: ['freeze an environment now (admins): approved and scheduled applies wait, tickets say why'],
    run: lazy(lifecycle, 'freeze'),
  },
  unfreeze: { usage: ['unfreeze <environment>'], summary: ['lift a freeze: the waiting requests go ahead, in order'], run: lazy(lifecycle, 'unfreeze') },
  'stack request': {
    usage: ['stack request <template> <name> [--label key=value ...] [--set question=answer ...]'],
    summary: ['a preview environment of a stack template (examples/stacks): its packages applied producers first, leased per policy'],
    run: lazy(stacks, 'stackRequest'),
  },
  'stack extend': { usage: ['stack extend <environment> <duration>'], summary: ["extend a stack's lease, within the policy's maximum"], run: lazy(stacks, 'stackExtend') },
  'stack resume': { usage: ['stack resume <environment>'], summary: ['go on with a stack that stopped on a failed package'], run: lazy(stacks, 'stackResume') },
  'stack list': { usage: ['stack list [--json]'], summary: ['stacks, where each is, and when its lease ends'], run: lazy(stacks, 'stackList') },
  'webhook inspect': {
    usage: ['webhook inspect --surface jira <payload.json> [--headers headers.json]'],
    summary: ['the normalized event a delivery becomes, or why it is refused'],
    run: lazy(webhooks, 'webhookInspect'),
  },
  forms: { usage: ['forms sync --surface jira|servicenow [--json]'], summary: ["create or update the surface's fields or catalog items"], run: lazy(forms, 'formsSync') },
  form: {
    usage: ['form render <bundle-dir> [--overlay file] --surface jira|servicenow [--format json|text]', 'form values <bundle-dir> --surface jira|servicenow --values file.json'],
    summary: ["a bundle's form as the surface shows it, or the params a submission becomes"],
    run: lazy(forms, 'form'),
  },
  doctor: {
    usage: ['doctor --surface jira|servicenow [--json]'],
    summary: ["check a live site's set-up against what the service needs (read-only);", 'prints each problem with how to fix it; exit 1 when there is any'],
    run: lazy(doctor, 'doctor'),
  },
};

/** The command a command line names: its two first words, else its first word. */
export function findCommand(positionals: string[]): { name: string; command: CliCommand } | undefined {
  const [first, second] = positionals;
  for (const name of [`${first} ${second}`, first]) {
    if (name && Object.hasOwn(COMMANDS, name)) return { name, command: COMMANDS[name]! };
  }
  return undefined;
}

const PROGRAM = '  ticket-surface ';
const SUMMARY_COLUMN = 49;

/**
 * A command's `--help` lines: its usage lines (a line not starting with the command's first word
 * continues the one before), the summary beside a short one-line usage, else below it.
 */
function helpLines(name: string, command: CliCommand): string[] {
  const word = name.split(' ')[0]!;
  const continuation = ' '.repeat(PROGRAM.length + name.length + 1);
  const usage = command.usage.map((u) => `${u.startsWith(word) ? PROGRAM : continuation}${u}`);
  const summary = command.summary.map((s) => `${' '.repeat(SUMMARY_COLUMN)}${s}`);
  if (usage.length === 1 && summary.length > 0 && usage[0]!.length < SUMMARY_COLUMN - 1) {
    return [`${usage[0]!.padEnd(SUMMARY_COLUMN)}${command.summary[0]}`, ...summary.slice(1)];
  }
  return [...usage, ...summary];
}

/** `ticket-surface --help`. */
export function helpText(): string {
  return [
    'ticket-surface: infrastructure bundles as ticket forms, one engine behind every surface',
    '',
    'Usage:',
    ...Object.entries(COMMANDS).flatMap(([name, command]) => helpLines(name, command)),
    '  ticket-surface --help | --version',
    '',
    'Environment: REDIS_URL (unset: a private redis-server in DATA_DIR), BUNDLE_PATH,',
    'ARTIFACT_DEFINITIONS_PATH, SCHEMA_MIRROR; see README.md.',
    'Acting user: the operating-system user ($USER), as the directory maps them (no --as).',
  ].join('\n');
}
