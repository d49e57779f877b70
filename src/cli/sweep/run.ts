import { join } from 'node:path';
import { sweepPool } from '../../../workers/scripts.js';
import { commandLine } from '../io.js';
import { type Point, expandPoints, sweepId } from './points.js';
import type { Sweep } from './schema.js';
import { appendRecord, claim, readRecords, writeRecords, writeSummary, type PointRecord } from './store.js';
import { lockDir } from './lock.js';
import { progress } from './progress.js';

export interface Shard {
  /** 1-based */
  i: number;
  n: number;
}

export interface SweepRunOptions {
  out: string;
  workers: number;
  shard?: Shard;
  /** run again the points whose last record is an error */
  retryFailed?: boolean;
  /** heap limit per worker (MB) */
  maxMemoryMb?: number;
  /** wait for another process's lock on out instead of refusing */
  wait?: boolean;
  /** no progress (bar or lines), no "nothing to run" line; warnings and errors stay */
  quiet?: boolean;
}

export interface SweepRunSummary {
  /** points of the shard (or sweep) */
  points: number;
  /** points run by this call */
  ran: number;
  /** the records of the shard's points that are errors */
  failed: PointRecord[];
}

/** The points shard i/n runs: index mod n = i - 1. */
function inShard(index: number, shard?: Shard): boolean {
  return !shard || index % shard.n === shard.i - 1;
}

const label = (p: Pick<Point, 'index' | 'params'>) =>
  `point ${p.index} (${Object.entries(p.params)
    .map(([a, v]) => `${a}=${JSON.stringify(v)}`)
    .join(', ')})`;

const byIndex = (records: Map<string, PointRecord>) => [...records.values()].sort((a, b) => a.index - b.index);

/**
 * Run the points of `sweep` (of this shard) that `out` has no record of, in a pool of workers, holding the
 * lock of `out`; each finished point is appended to out/results.jsonl and summary.csv is rewritten. On
 * SIGINT / SIGTERM it says what is recorded, releases the lock and exits 130 / 143.
 */
export async function runSweep(sweep: Sweep, opts: SweepRunOptions): Promise<SweepRunSummary> {
  const points = expandPoints(sweep).filter((p) => inShard(p.index, opts.shard));
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const lock = await lockDir(opts.out, { field: '--out', command: 'dmft sweep run', wait: opts.wait, warn });
  try {
    claim(opts.out, { id: sweepId(sweep), sweep }, '--out', { quiet: opts.quiet });
    const { records, duplicates } = readRecords(opts.out);
    if (duplicates > 0) {
      warn(
        `dmft: ${join(opts.out, 'results.jsonl')}: ${duplicates} line(s) repeat a point recorded earlier; kept the last record of each and rewrote the file`,
      );
      writeRecords(opts.out, byIndex(records));
    }
    writeSummary(opts.out, records.values());
    const todo = points.filter((p) => !records.has(p.key) || (opts.retryFailed && records.get(p.key)!.error !== undefined));
    const which = opts.shard ? `of shard ${opts.shard.i}/${opts.shard.n}` : 'of this sweep';
    const failed = () => points.map((p) => records.get(p.key)!).filter((r) => r.error !== undefined);
    if (todo.length === 0) {
      const f = failed().length;
      if (f > 0)
        warn(`dmft: all ${points.length} points ${which} are already in ${opts.out} (${f} failed; --retry-failed runs them again)`);
      else if (!opts.quiet) warn(`dmft: all ${points.length} points ${which} are already in ${opts.out}; nothing to run`);
      return { points: points.length, ran: 0, failed: failed() };
    }
    const bar = progress(todo.length, { quiet: opts.quiet });
    const interrupted = (signal: NodeJS.Signals) => {
      bar.stop();
      const done = points.filter((p) => records.has(p.key)).length;
      warn(
        `dmft: interrupted (${signal}): ${done} of ${points.length} points ${which} finished and recorded in ${opts.out}; run the same command to resume`,
      );
      lock.release();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', interrupted);
    process.on('SIGTERM', interrupted);
    // a retried point appends a second line: the file is rewritten with one line per point at the end
    let repeated = 0;
    let pool: Awaited<ReturnType<typeof sweepPool>> | undefined;
    try {
      pool = await sweepPool({
        size: opts.workers,
        maxMemoryMb: opts.maxMemoryMb,
        onCrash: (task, reason, retrying) => warn(`${task}: worker died (${reason})${retrying ? '; retrying on a fresh worker' : ''}`),
      });
      const workers = pool;
      await Promise.all(
        todo.map(async (p) => {
          let started = performance.now();
          const record: PointRecord = { index: p.index, key: p.key, kind: p.kind, params: p.params, seconds: 0 };
          try {
            const result = await workers.run(label(p), (w) => {
              started = performance.now();
              return w.runPoint(p.kind, p.config, p.options);
            });
            record.result = { ...result, config: p.record, meta: { ...result.meta, command: commandLine() } };
          } catch (e) {
            record.error = (e as Error).message;
          }
          record.seconds = (performance.now() - started) / 1000;
          appendRecord(opts.out, record);
          if (records.has(p.key)) repeated++;
          records.set(p.key, record);
          writeSummary(opts.out, records.values());
          bar.done(label(p), record.error !== undefined, record.seconds);
        }),
      );
      if (repeated > 0) writeRecords(opts.out, byIndex(records));
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      bar.stop();
      await pool?.close();
    }
    return { points: points.length, ran: todo.length, failed: failed() };
  } finally {
    lock.release();
  }
}
