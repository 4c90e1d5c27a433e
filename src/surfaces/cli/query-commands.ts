/** `query [<name> [args]] [--json]`: the read-only questions of the query catalog. */
import { answerAsText, parseQueryText, QueryCatalog, QueryError } from '../../workflow/queries.ts';
import type { CommandContext } from './command.ts';
import { print } from './io.ts';

/**
 * The words after `query`, without the CLI's own options: parseArgs would read `--top 5` as a
 * boolean flag and a stray positional, so query arguments are taken from argv as typed.
 */
function queryTokens(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = argv.indexOf('query') + 1; i < argv.length; i++) {
    const t = argv[i]!;
    if (t === '--json' || t.startsWith('--as=')) continue;
    if (t === '--as') {
      i++;
      continue;
    }
    out.push(t);
  }
  return out;
}

/** Answers one query (audited as the acting user), or lists every query when none is named. */
export async function query({ io, argv, json, actor, engine }: CommandContext): Promise<number> {
  const catalog = new QueryCatalog(await engine());
  const invocation = parseQueryText(queryTokens(argv));
  if (!invocation.name) {
    print(io, json, catalog.list(), () => `Queries:\n${catalog.usage().map((u) => `  ${u}`).join('\n')}`);
    return 0;
  }
  try {
    const answer = await catalog.ask(invocation, actor);
    print(io, json, answer, () => answerAsText(answer));
    return 0;
  } catch (err) {
    // The problem names the query's own usage; the whole list is for an unknown query only.
    if (!(err instanceof QueryError)) throw err;
    io.err(`error: ${err.problem}`);
    if (!catalog.list().some((q) => q.name === invocation.name)) io.err(`Queries:\n${err.usage.map((u) => `  ${u}`).join('\n')}`);
    return 1;
  }
}
