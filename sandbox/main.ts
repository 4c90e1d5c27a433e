/**
 * `npm run sandbox -- --surface jira|servicenow [--port N] [--service-url URL]`: serves the Jira
 * or ServiceNow sandbox for a service run by hand, prints how to point the service at it, and
 * runs until SIGINT or SIGTERM (exit 0). A bad command line exits 2 with the usage.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_PORTS, DEFAULT_SERVICE_URL, instructions, serveSandbox, type ServeOptions } from './serve.ts';

const USAGE = `usage: npm run sandbox -- --surface jira|servicenow [--port N] [--service-url URL]

  --surface      which sandbox: jira or servicenow
  --port         where it listens (default ${DEFAULT_PORTS.jira} for jira, ${DEFAULT_PORTS.servicenow} for servicenow; 0 picks a free port)
  --service-url  where the service listens; webhooks go to <URL>/webhooks/<surface> (default ${DEFAULT_SERVICE_URL})`;

const optionsSchema = z.object({
  surface: z.enum(['jira', 'servicenow'], { message: '--surface must be jira or servicenow' }),
  port: z.coerce.number({ message: '--port must be a number' }).int('--port must be a whole number').min(0, '--port must be 0 to 65535').max(65535, '--port must be 0 to 65535').optional(),
  'service-url': z.url({ protocol: /^https?$/, message: '--service-url must be an http(s) URL' }).default(DEFAULT_SERVICE_URL),
});

/** The command line as {@link ServeOptions}, or the reason it is not one. */
function parseSandboxArgs(argv: string[]): { ok: true; options: ServeOptions } | { ok: false; problem: string } {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, strict: true, options: { surface: { type: 'string' }, port: { type: 'string' }, 'service-url': { type: 'string' } } }).values;
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  const parsed = optionsSchema.safeParse(values);
  if (!parsed.success) return { ok: false, problem: parsed.error.issues[0]!.message };
  const { surface, port, 'service-url': serviceUrl } = parsed.data;
  return { ok: true, options: { surface, port: port ?? DEFAULT_PORTS[surface], serviceUrl } };
}

/** Serves the sandbox until SIGINT or SIGTERM. */
async function run(argv: string[]): Promise<void> {
  const args = parseSandboxArgs(argv);
  if (!args.ok) {
    process.stderr.write(`${args.problem}\n\n${USAGE}\n`);
    process.exit(2);
  }
  const served = await serveSandbox(args.options);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox\n`);
    served.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`the sandbox did not stop cleanly: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  // Kept for the whole run: a second signal (Ctrl-C reaches both npm and node, and npm forwards it) is ignored.
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.stdout.write(`${instructions(served, args.options.serviceUrl)}\n`);
}

await run(process.argv.slice(2));
