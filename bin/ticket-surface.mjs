#!/usr/bin/env node
// Runs the compiled CLI (dist/). In a checkout (src/ beside dist/) it first compiles dist/ when
// it is missing or older than src/, so the CLI works from a fresh clone and after every edit;
// the image ships dist/ alone and runs it as it is.
import { existsSync } from 'node:fs';

const build = new URL('../scripts/build.mjs', import.meta.url);
if (existsSync(build)) await (await import(build.href)).ensureBuilt();
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
