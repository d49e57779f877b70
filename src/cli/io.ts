import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { parseConfigText, type Config } from '../core/config.js';
import { ConvergenceError, InputError } from '../core/errors.js';

/** Node-only I/O of the command line: reading configs, writing results, one-line errors. */

export function readText(path: string, field = path): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new InputError(field, `cannot read file (${why})`);
  }
}

export function readConfig(path: string): Config {
  return parseConfigText(readText(path), path);
}

/** Write JSON to `out` (atomically: temp file + rename) or to standard output. */
export function writeJson(value: unknown, out?: string): void {
  const text = JSON.stringify(value) + '\n';
  if (!out) {
    process.stdout.write(text);
    return;
  }
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, out);
  } catch (e) {
    throw new InputError('--out', `cannot write ${out} (${(e as Error).message})`);
  }
  process.stderr.write(`wrote ${out}\n`);
}

/** Parse a positive integer option, refusing anything else by name. */
export function intOption(name: string, min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InputError(name, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

export function positiveOption(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InputError(name, `expected a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** Exit codes: 2 bad input, 3 non-convergence or divergence, 1 anything else. */
export function reportAndExit(e: unknown): never {
  if (e instanceof InputError) {
    process.stderr.write(`dmft: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof ConvergenceError) {
    process.stderr.write(`dmft: ${e.message}\n`);
    if (e.history.length) process.stderr.write(`residual history: ${e.history.map((r) => r.toExponential(2)).join(' ')}\n`);
    process.exit(3);
  }
  const err = e as Error;
  process.stderr.write(`dmft: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.DMFT_DEBUG) process.stderr.write(`${err?.stack}\n`);
  process.exit(1);
}

/** Wrap a command action so that every failure is one line and a non-zero exit. */
export function action<A extends unknown[]>(fn: (...args: A) => unknown | Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      reportAndExit(e);
    }
  };
}

/** A progress bar on stderr, shown only when stderr is a terminal and the run has lasted over a second. */
export function progressBar(label: string, unit: string): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(done, total) {
      if (!bar && performance.now() - started < 1000) return;
      if (!bar) {
        bar = new cliProgress.SingleBar({ stream: process.stderr, format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | eta {eta}s` });
        bar.start(total, done);
      } else {
        // an accuracy-targeted Monte Carlo solve adds its next solve's steps to the total
        if (total !== bar.getTotal()) bar.setTotal(total);
        bar.update(done);
      }
    },
    stop: () => bar?.stop(),
  };
}
