import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { action, intOption } from './io.js';
import { mergeSweeps } from './sweep/merge.js';
import { runSweep, type Shard } from './sweep/run.js';
import { readSweep } from './sweep/schema.js';

/** `dmft sweep SWEEP` and `dmft sweep merge DIR... --out DIR` (docs/INTERFACE.md). */
export function registerSweep(program: Command): void {
  const sweep = program
    .command('sweep')
    .description('grids of lazy / simulate / ... points in workers: resumable, shardable, mergeable (sweep files: docs/INTERFACE.md)');
  const run = sweep
    .command('run', { isDefault: true })
    .description(
      'run the points of SWEEP (a base config and a grid of overrides) that --out has no record of (`dmft sweep SWEEP` is short for this)',
    )
    .argument('<sweep>', 'sweep JSON file (docs/INTERFACE.md)')
    .option(
      '--out <dir>',
      'output directory: sweep.json, results.jsonl, summary.csv (default: <sweep>-results); locked while the sweep runs',
    )
    .option('--workers <n>', 'worker threads (default: all cores)', intOption('--workers'))
    .option('--shard <i/n>', 'run only the points with index mod n = i - 1 (1 <= i <= n), e.g. a job array task', shardOption)
    .option('--retry-failed', 'run again the points recorded as failed')
    .option('--worker-memory <MB>', 'heap limit of each worker: a point over it fails alone, not the sweep', intOption('--worker-memory'))
    .option('--wait', 'if another process holds --out, wait for it instead of refusing')
    .option('--quiet', 'no progress bar or lines (warnings and errors are still shown)')
    .action(
      action(
        async (
          file: string,
          opts: {
            out?: string;
            workers?: number;
            shard?: Shard;
            retryFailed?: boolean;
            workerMemory?: number;
            wait?: boolean;
            quiet?: boolean;
          },
        ) => {
          const out = opts.out ?? `${basename(file, '.json')}-results`;
          const { ran, failed } = await runSweep(readSweep(file), {
            out,
            workers: opts.workers ?? availableParallelism(),
            shard: opts.shard,
            retryFailed: opts.retryFailed,
            maxMemoryMb: opts.workerMemory,
            wait: opts.wait,
            quiet: opts.quiet,
          });
          if (failed.length > 0) {
            // with nothing run, runSweep's one line already said how many failed
            if (ran > 0)
              process.stderr.write(
                `dmft: ${failed.length} point(s) failed, first: ${failed[0].error}; see ${out}/summary.csv (--retry-failed runs them again)\n`,
              );
            process.exitCode = 1;
          }
        },
      ),
    );
  // `dmft sweep --help` shows the parent command only: list the options of the default command `run` too
  sweep.addHelpText('after', () => {
    const help = run.createHelp();
    const options = help.visibleOptions(run).filter((o) => o.long !== '--help');
    const width = Math.max(...options.map((o) => help.optionTerm(o).length));
    const items = options.map((o) => help.formatItem(help.optionTerm(o), width, help.optionDescription(o), help));
    return `\n\`dmft sweep SWEEP [options]\` runs SWEEP (command run, the default), options:\n${items.join('\n')}\n`;
  });

  sweep
    .command('merge')
    .description('merge the output directories of the shards of one sweep; says which points of the sweep are still missing')
    .argument('<dirs...>', 'shard output directories')
    .requiredOption('--out <dir>', 'merged output directory (locked while written)')
    .option('--wait', 'if another process holds --out, wait for it instead of refusing')
    .action(
      action(async (dirs: string[], opts: { out: string; wait?: boolean }) => {
        const { message } = await mergeSweeps(dirs, opts.out, { wait: opts.wait });
        process.stderr.write(`${message}\n`);
      }),
    );
}

function shardOption(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v);
  const i = Number(m?.[1]),
    n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n) throw new InputError('--shard', `expected i/n with 1 <= i <= n, got ${JSON.stringify(v)}`);
  return { i, n };
}
