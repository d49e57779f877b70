import type { Command } from 'commander';
import { METHODS } from '../core/config.js';
import { solveWorkers } from '../../workers/solve.js';
import { action, emitResult, FORMAT_OPTION, intOption, onInterrupt, progressBar, readRun, type Format } from './io.js';

/** `dmft solve CONFIG [--out FILE]`: the infinite-width (DMFT) learning curves of docs/INTERFACE.md. */
export function registerSolve(program: Command): void {
  program
    .command('solve')
    .description(`infinite-width DMFT learning curves of CONFIG (solver.method: ${METHODS.join(', ')})`)
    .argument('<config>', 'config JSON file (docs/INTERFACE.md), or - for standard input')
    .option('--out <file>', 'write the result here instead of standard output')
    .addOption(FORMAT_OPTION())
    .option(
      '--workers <W>',
      'worker threads for the Monte Carlo replicas (default: all cores; other methods run in one worker; 1 runs in this process); the result does not depend on it',
      intOption('--workers'),
    )
    .option('--quiet', 'no progress lines or bar on standard error (warnings and errors are still printed)')
    .action(
      action(async (config: string, opts: { out?: string; workers?: number; quiet?: boolean; format?: Format }) => {
        const { cfg, record } = readRun(config);
        const bar = progressBar('solve', 'steps', opts.quiet);
        // every method runs in workers unless --workers 1, so this thread can report an interrupt
        const release = opts.workers !== 1 ? onInterrupt('solve', bar.status) : () => {};
        const warn = (note: string) => process.stderr.write(`dmft: warning: ${note}\n`);
        await emitResult(
          () => solveWorkers(cfg, { onProgress: bar.update, onWarning: warn }, opts.workers).finally(() => (bar.stop(), release())),
          record,
          opts.out,
          opts.format,
        );
      }),
    );
}
