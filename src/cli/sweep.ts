import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { action, intOption } from './io.js';
import { mergeSweeps } from './sweep/merge.js';
import { runSweep, type Shard } from './sweep/run.js';
import { readSweep } from './sweep/schema.js';

/** `dmft sweep SWEEP` and `dmft sweep merge DIR... --out DIR` (shared/INTERFACE.md). */
export function registerSweep(program: Command): void {
  const sweep = program.command('sweep').description('grids of lazy / simulate / ... points in workers: resumable, shardable, mergeable');
  sweep
    .command('run', { isDefault: true })
    .description('run the points of SWEEP (a base config and a grid of overrides) that --out has no record of (`dmft sweep SWEEP` is short for this)')
    .argument('<sweep>', 'sweep JSON file')
    .option('--out <dir>', 'output directory: sweep.json, results.jsonl, summary.csv (default: <sweep>-results)')
    .option('--workers <n>', 'worker threads (default: all cores)', intOption('--workers'))
    .option('--shard <i/n>', 'run only the points with index mod n = i - 1 (1 <= i <= n), e.g. a job array task', shardOption)
    .option('--retry-failed', 'run again the points recorded as failed')
    .option('--worker-memory <MB>', 'heap limit of each worker: a point over it fails alone, not the sweep', intOption('--worker-memory'))
    .action(
      action(async (file: string, opts: { out?: string; workers?: number; shard?: Shard; retryFailed?: boolean; workerMemory?: number }) => {
        const out = opts.out ?? `${basename(file, '.json')}-results`;
        const failed = await runSweep(readSweep(file), { out, workers: opts.workers ?? availableParallelism(), shard: opts.shard, retryFailed: opts.retryFailed, maxMemoryMb: opts.workerMemory });
        if (failed.length > 0) {
          process.stderr.write(`dmft: ${failed.length} point(s) failed, first: ${failed[0].error}; see ${out}/summary.csv (--retry-failed runs them again)\n`);
          process.exitCode = 1;
        }
      }),
    );

  sweep
    .command('merge')
    .description('merge the output directories of the shards of one sweep')
    .argument('<dirs...>', 'shard output directories')
    .requiredOption('--out <dir>', 'merged output directory')
    .action(
      action((dirs: string[], opts: { out: string }) => {
        const n = mergeSweeps(dirs, opts.out);
        process.stderr.write(`merged ${n} points into ${opts.out}\n`);
      }),
    );
}

function shardOption(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const i = Number(m?.[1]), n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n) throw new InputError('--shard', `expected i/n with 1 <= i <= n, got ${JSON.stringify(v)}`);
  return { i, n };
}
