import { sweepPool } from '../../../workers/scripts.js';
import { type Point, expandPoints, sweepId } from './points.js';
import type { Sweep } from './schema.js';
import { appendRecord, claim, readRecords, writeSummary, type PointRecord } from './store.js';
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
}

/** The points shard i/n runs: index mod n = i - 1. */
function inShard(index: number, shard?: Shard): boolean {
  return !shard || index % shard.n === shard.i - 1;
}

const label = (p: Pick<Point, 'index' | 'params'>) =>
  `point ${p.index} (${Object.entries(p.params)
    .map(([a, v]) => `${a}=${JSON.stringify(v)}`)
    .join(', ')})`;

/**
 * Run the points of `sweep` (of this shard) that `out` has no record of, in a pool of workers; each
 * finished point is appended to out/results.jsonl and summary.csv is rewritten. Returns the records of
 * the shard's points that are errors.
 */
export async function runSweep(sweep: Sweep, opts: SweepRunOptions): Promise<PointRecord[]> {
  const points = expandPoints(sweep).filter((p) => inShard(p.index, opts.shard));
  claim(opts.out, { id: sweepId(sweep), sweep }, '--out');
  const records = readRecords(opts.out);
  writeSummary(opts.out, records.values());
  const todo = points.filter((p) => !records.has(p.key) || (opts.retryFailed && records.get(p.key)!.error !== undefined));
  if (todo.length > 0) {
    const bar = progress(todo.length);
    const pool = await sweepPool({
      size: opts.workers,
      maxMemoryMb: opts.maxMemoryMb,
      onCrash: (task, reason, retrying) => process.stderr.write(`${task}: worker died (${reason})${retrying ? '; retrying on a fresh worker' : ''}\n`),
    });
    try {
      await Promise.all(
        todo.map(async (p) => {
          let started = performance.now();
          const record: PointRecord = { index: p.index, key: p.key, kind: p.kind, params: p.params, seconds: 0 };
          try {
            record.result = await pool.run(label(p), (w) => {
              started = performance.now();
              return w.runPoint(p.kind, p.config, p.options);
            });
          } catch (e) {
            record.error = (e as Error).message;
          }
          record.seconds = (performance.now() - started) / 1000;
          appendRecord(opts.out, record);
          records.set(p.key, record);
          writeSummary(opts.out, records.values());
          bar.done(label(p), record.error !== undefined);
        }),
      );
    } finally {
      bar.stop();
      await pool.close();
    }
  }
  return points.map((p) => records.get(p.key)!).filter((r) => r.error !== undefined);
}
