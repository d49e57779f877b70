import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { Option } from 'commander';
import { dirname } from 'node:path';
import { parseConfig, parseJson, type Config, type ConfigOptions } from '../core/config.js';
import { ConvergenceError, DivergenceError, InputError } from '../core/errors.js';
import { fileErrorReason } from '../core/data-files.js';
import { configRecord } from '../core/provenance.js';
import { curvesCsv, type Result } from '../core/result.js';

/** Node-only I/O of the command line: reading configs, writing results, one-line errors. */

export function readText(path: string, field = path): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(field, `cannot read file (${fileErrorReason(e)})`);
  }
}

export function readConfig(path: string): Config {
  return readRun(path).cfg;
}

/** A config file, parsed, with the record of it that results carry (src/core/provenance.ts). */
export function readRun(path: string): { cfg: Config; record: Record<string, unknown> } {
  const raw = parseJson(readText(path), path);
  const cfg = parseConfig(raw, dataFileOptions(path === '-' ? '.' : dirname(path)));
  return { cfg, record: configRecord(raw, cfg) };
}

/** parseConfig's options for data files named in a config: read with Node, relative to `baseDir`. */
export function dataFileOptions(baseDir: string): ConfigOptions {
  return { readFile: (p) => readFileSync(p), baseDir };
}

/** Write JSON to `out` (atomically: temp file + rename) or to standard output. */
export function writeJson(value: unknown, out?: string): void {
  writeText(JSON.stringify(value) + '\n', out);
}

function writeText(text: string, out?: string): void {
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

/** The current time, ISO 8601 to the second (progress lines). */
export const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export interface Progress {
  update: (done: number, total: number) => void;
  stop: () => void;
  /** "15/41 steps": how far the run got */
  status: () => string;
}

/** Seconds between progress lines off a terminal: DMFT_PROGRESS_SECONDS, default 5. */
function progressEvery(): number {
  const v = Number(process.env.DMFT_PROGRESS_SECONDS);
  return Number.isFinite(v) && v >= 0 && process.env.DMFT_PROGRESS_SECONDS !== '' ? v : 5;
}

/**
 * Progress on stderr: on a terminal a bar once the run has lasted over a second; elsewhere (a cluster job's
 * log) a timestamped line at most every progressEvery() seconds with the fraction done and an ETA; nothing
 * with `quiet`.
 */
export function progressBar(label: string, unit: string, quiet = false): Progress {
  const started = performance.now();
  let done = 0,
    total = 0;
  const status = () => `${done}/${total} ${unit}`;
  const track = (d: number, t: number) => ((done = d), (total = t));
  if (quiet) return { update: track, stop: () => {}, status };
  if (!process.stderr.isTTY) {
    let last = started,
      printed = false;
    const every = progressEvery() * 1000;
    return {
      update(d, t) {
        track(d, t);
        const now = performance.now();
        if (now - last < every && !(d === t && printed)) return;
        if (d === t && !printed) return; // a run shorter than the interval says nothing
        last = now;
        printed = true;
        const elapsed = (now - started) / 1000;
        const eta = d > 0 ? (elapsed * (t - d)) / d : NaN;
        process.stderr.write(
          `${isoNow()} ${label} ${Math.floor((100 * d) / t)}% (${status()}), ${elapsed.toFixed(0)} s elapsed${Number.isFinite(eta) ? `, ETA ${eta.toFixed(0)} s` : ''}\n`,
        );
      },
      stop: () => {},
      status,
    };
  }
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(d, t) {
      track(d, t);
      if (!bar && performance.now() - started < 1000) return;
      if (!bar) {
        bar = new cliProgress.SingleBar({
          stream: process.stderr,
          format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | eta {eta}s`,
        });
        bar.start(t, d);
      } else {
        // an accuracy-targeted Monte Carlo solve adds its next solve's steps to the total
        if (t !== bar.getTotal()) bar.setTotal(t);
        bar.update(d);
      }
    },
    stop: () => bar?.stop(),
    status,
  };
}

/**
 * While work runs in worker threads (the main thread free to take signals), SIGINT / SIGTERM end the process
 * with one line saying how far it got (exit 130 / 143). Returns the function that removes the handlers. Work
 * in this thread keeps the default signal handling: a handler could not run before it ends.
 */
export function onInterrupt(what: string, status: () => string): () => void {
  const started = performance.now();
  const handler = (signal: NodeJS.Signals) => {
    process.stderr.write(
      `\ndmft: ${what} interrupted by ${signal} after ${((performance.now() - started) / 1000).toFixed(1)} s: ${status()} finished; nothing written\n`,
    );
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', handler).on('SIGTERM', handler);
  return () => process.off('SIGINT', handler).off('SIGTERM', handler);
}

export type Format = 'json' | 'csv';

/** `--format json|csv` of the commands that write a result. */
export const FORMAT_OPTION = () =>
  new Option(
    '--format <format>',
    'json (the whole result, default) or csv (the curves: t,trainLoss,trainLossSem,testLoss,testLossSem)',
  ).argParser((v: string): Format => {
    if (v !== 'json' && v !== 'csv') throw new InputError('--format', `expected json or csv, got ${JSON.stringify(v)}`);
    return v;
  });

/** The command line that is running, as a user would type it (meta.command). */
export function commandLine(): string {
  return ['dmft', ...process.argv.slice(2)].map((a) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Write `result`, with `config` (the record of readRun) and meta.command, to `out` or standard output, as JSON or as the curves' CSV. */
export function writeResult(result: Result, record: Record<string, unknown>, out?: string, format: Format = 'json'): void {
  const described = { ...result, config: record, meta: { ...result.meta, command: commandLine() } };
  // the result stands; what its producer warned of goes to stderr too
  for (const w of result.meta.warnings ?? []) process.stderr.write(`dmft: warning: ${w}\n`);
  if (format === 'json') return writeJson(described, out);
  writeText(curvesCsv(described), out);
}

/**
 * Write the result of `produce` as writeResult does; a divergence writes the partial result first (exit 3
 * follows).
 */
export async function emitResult(
  produce: () => Result | Promise<Result>,
  record: Record<string, unknown>,
  out?: string,
  format: Format = 'json',
): Promise<Result> {
  try {
    const result = await produce();
    writeResult(result, record, out, format);
    return result;
  } catch (e) {
    if (e instanceof DivergenceError && e.partial) writeResult(e.partial as Result, record, out, format);
    throw e;
  }
}
