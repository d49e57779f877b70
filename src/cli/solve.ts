import type { Command } from 'commander';
import { solveWorkers } from '../../workers/solve.js';
import { action, intOption, progressBar, readConfig, writeJson } from './io.js';

/** `dmft solve CONFIG [--out FILE]`: the infinite-width (DMFT) learning curves of shared/INTERFACE.md. */
export function registerSolve(program: Command): void {
  program
    .command('solve')
    .description('infinite-width DMFT learning curves of CONFIG (solver.method: auto, two-layer, deep-linear, monte-carlo, gradient-independent, static-ntk)')
    .argument('<config>', 'config JSON file (shared/INTERFACE.md), or - for standard input')
    .option('--out <file>', 'write the result JSON here instead of standard output')
    .option('--workers <W>', 'worker threads for the Monte Carlo replicas (default: all cores; 1 runs in this process); the result does not depend on it', intOption('--workers'))
    .action(
      action(async (config: string, opts: { out?: string; workers?: number }) => {
        const cfg = readConfig(config);
        const bar = progressBar('solve', 'steps');
        const result = await solveWorkers(cfg, { onProgress: bar.update, onWarning: (note) => process.stderr.write(`dmft: warning: ${note}\n`) }, opts.workers).finally(bar.stop);
        writeJson(result, opts.out);
        // the Monte Carlo solution's self-check (meta.consistency) and a missed accuracy target (meta.accuracy):
        // warnings, the result stands
        for (const key of ['consistency', 'accuracy']) {
          const note = (result.meta[key] as { note?: string } | undefined)?.note;
          if (note) process.stderr.write(`dmft: warning: ${note}\n`);
        }
      }),
    );
}
