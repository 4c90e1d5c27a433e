// A module-load probe for child processes: `node --import <this file> ...` with MODULE_PROBE_FILE
// set appends the URL of every module the process loads to that file, one a line, so a test can
// say which modules a command loaded (and which it did not).
import { register } from 'node:module';

register('./module-probe-hooks.mjs', import.meta.url);
