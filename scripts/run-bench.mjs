#!/usr/bin/env node
// Runs every bench/*.bench.ts, one per process (`node --import tsx`), each bounded in time.
// Benchmarks print their figures; nothing is asserted, so a missed goal is not a failure here.
// Arguments filter by substring: `npm run bench -- ingest forms`.
// BENCH_TIMEOUT_SECONDS bounds each benchmark (default 600); BENCH_SECONDS is passed through.
// A benchmark's one-line summary (a line starting `speed: `) is held back and printed last, so
// the run ends with it and scripts can compare it from run to run.
import { readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { ensureBuilt } from './build.mjs';

const filter = process.argv.slice(2);
let files = readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
  .map((f) => `bench/${f}`);
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no benchmark matched');
  process.exit(1);
}
const timeoutMs = Number(process.env.BENCH_TIMEOUT_SECONDS ?? 600) * 1000;
// The layouts and the ingest target run the compiled service, as `npm start` does: built first when stale.
await ensureBuilt();

/** Summary lines (`speed: ...`) the benchmarks printed, printed again at the very end. */
const summaries = [];

/** Passes a child's output through line by line, holding back its summary lines. */
function passThrough(stream) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (line.startsWith('speed: ')) summaries.push(line);
      else process.stdout.write(`${line}\n`);
    }
  });
  stream.on('end', () => {
    if (rest.startsWith('speed: ')) summaries.push(rest);
    else if (rest) process.stdout.write(rest);
  });
}

/** Runs one benchmark in its own process group so a timeout can stop it and its children. */
function runOne(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      stdio: ['inherit', 'pipe', 'inherit'],
      detached: true,
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
    });
    passThrough(child.stdout);
    // Its output read to the end (or 2 s, should a process it left behind hold the pipe open).
    const drained = new Promise((r) => {
      child.stdout.once('end', r);
      child.once('exit', () => setTimeout(r, 2000));
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\n${file}: still running after ${timeoutMs / 1000} s, stopping it`);
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }, 5000).unref();
    }, timeoutMs);
    child.on('exit', async (code, signal) => {
      clearTimeout(timer);
      await drained;
      resolve({ file, code: timedOut ? 'timeout' : (code ?? signal), seconds: (Date.now() - started) / 1000 });
    });
  });
}

const results = [];
for (const file of files) {
  // Other work on the machine shows up as latency: say how busy it was before each benchmark.
  const [one] = loadavg();
  const cores = availableParallelism();
  console.log(`\n=== ${file} (load average ${one.toFixed(2)} on ${cores} cores${one > cores / 2 ? ': the machine is busy, latencies will be noisy' : ''})`);
  results.push(await runOne(file));
}
console.log('\n=== summary');
for (const r of results) console.log(`${r.code === 0 ? 'ok  ' : 'FAIL'} ${r.file} (${r.seconds.toFixed(1)} s${r.code === 0 ? '' : `, exit ${r.code}`})`);
if (summaries.length) console.log('');
for (const line of summaries) console.log(line);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
