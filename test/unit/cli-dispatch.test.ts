/**
 * The CLI's dispatcher without Redis: `--help` made from the command table, `--version`, unknown
 * commands, and `approve`/`reject` through the workflow the composition root injects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main as entry, loadSurfaceTools } from '../../src/cli.ts';
import { main, COMMANDS } from '../../src/surfaces/cli/main.ts';
import type { CliDeps, OpenedWorkflow } from '../../src/surfaces/cli/command.ts';
import type { CliIo } from '../../src/surfaces/cli/io.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Printed {
  code: number;
  out: string;
  err: string;
}

function bufferIo(): { io: CliIo; printed: () => { out: string; err: string } } {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { LOG_LEVEL: 'silent' }, cwd: ROOT };
  return { io, printed: () => ({ out, err }) };
}

async function cli(args: string[]): Promise<Printed> {
  const { io, printed } = bufferIo();
  const code = await entry(args, io);
  return { code, ...printed() };
}

test('--help lists every command of the table with its usage, exit 0; no command prints it with exit 2', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  for (const command of Object.values(COMMANDS)) for (const line of command.usage) assert.ok(help.out.includes(line), `--help shows ${line}`);
  assert.match(help.out, /^ {2}ticket-surface approve <request> +approve the request's current plan/m);
  assert.equal((await cli(['-h'])).code, 0);
  assert.equal((await cli(['bundle', 'lint', '--help'])).out, help.out, '--help wins over a command');
  const bare = await cli([]);
  assert.equal(bare.code, 2);
  assert.equal(bare.out, help.out);
});

test('--version prints the version of package.json, exit 0', async () => {
  const v = await cli(['--version']);
  assert.deepEqual(v, { code: 0, out: `${VERSION}\n`, err: '' });
});

test('an unknown command names itself and shows the help, exit 2; a bad configuration stops a known one, exit 2', async () => {
  const unknown = await cli(['bundle', 'publish']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^unknown command: bundle publish\n\nticket-surface:/);
  const { io, printed } = bufferIo();
  io.env = { REDIS_URL: 'http://not-redis' };
  assert.equal(await entry(['audit', 'verify'], io), 2);
  assert.match(printed().err, /^configuration error: REDIS_URL/);
});

/** A workflow that records what the CLI asked of it. */
function fakeWorkflow(counted: boolean): { deps: (io: CliIo) => CliDeps; calls: string[] } {
  const calls: string[] = [];
  const opened: OpenedWorkflow = {
    recovery: { stuck: async () => [] },
    workflow: {
      approve: async (input) => {
        calls.push(`approve ${input.requestId} by ${input.approver.id} on ${input.surface}`);
        const message = counted ? 'Approved by Bo Approver.' : 'Approval by Bo Approver not counted: not in platform-approvers.';
        return { counted, satisfied: counted, message, request: { state: 'approved' } } as never;
      },
      close: async (id, to, by, surface, reason) => {
        calls.push(`${to} ${id} by ${by.id} on ${surface}: ${reason}`);
        return { id, state: to } as never;
      },
      submit: async (input) => {
        calls.push(`${input.kind} ${input.packageName ?? input.bundle} by ${input.actor.id} on ${input.origin.surface}`);
        return { id: 'req_x', state: 'received' } as never;
      },
    },
    close: async () => void calls.push('closed'),
  };
  const deps = (io: CliIo): CliDeps => ({
    io,
    version: VERSION,
    surfaceTools: loadSurfaceTools,
    openTrust: async () => {
      throw new Error('no command here needs the trust');
    },
    openWorkflow: async (_config, options) => {
      calls.push(`opened (log ${options.logLevel})`);
      return opened;
    },
  });
  return { deps, calls };
}

test('approve and reject go through the workflow the composition root gives, closed after each command', async () => {
  const ok = fakeWorkflow(true);
  let { io, printed } = bufferIo();
  assert.equal(await main(['approve', 'req-1'], ok.deps({ ...io, env: { ...io.env, USER: 'bo' } })), 0);
  assert.equal(printed().out, '✔ Approved by Bo Approver. Request is approved.\n');
  ({ io, printed } = bufferIo());
  assert.equal(await main(['reject', 'req-2', '--note', 'not now'], ok.deps({ ...io, env: { ...io.env, USER: 'ari' } })), 0);
  assert.equal(printed().out, 'request req-2 rejected\n');
  assert.deepEqual(ok.calls, ['opened (log silent)', 'approve req-1 by bo on cli', 'closed', 'opened (log silent)', 'rejected req-2 by ari on cli: not now', 'closed']);

  const refused = fakeWorkflow(false);
  ({ io, printed } = bufferIo());
  assert.equal(await main(['approve', 'req-1'], refused.deps({ ...io, env: { ...io.env, USER: 'bo' } })), 1);
  assert.match(printed().out, /^✘ Approval by Bo Approver not counted/);

  const usage = fakeWorkflow(true);
  ({ io, printed } = bufferIo());
  assert.equal(await main(['reject'], usage.deps(io)), 2);
  assert.equal(printed().err, 'usage: ticket-surface reject <request>\n');
  assert.deepEqual(usage.calls, [], 'a usage error opens nothing');
});
