/**
 * The CLI run from its TypeScript under tsx (`node --import tsx bench/lib/tsx-cli.ts ...`), as
 * `bin/ticket-surface.mjs` ran it before the CLI was compiled: the startup bench's baseline.
 */
import { main } from '../../src/cli.ts';

process.exitCode = await main(process.argv.slice(2));
