import type { Command } from 'commander';
import { solve } from '../dmft/solve.js';
import { action, readConfig, writeJson } from './io.js';

/** `dmft solve CONFIG [--out FILE]`: the infinite-width (DMFT) learning curves of shared/INTERFACE.md. */
export function registerSolve(program: Command): void {
  program
    .command('solve')
    .description('infinite-width DMFT learning curves of CONFIG (solver.method: auto, two-layer, deep-linear, static-ntk)')
    .argument('<config>', 'config JSON file (shared/INTERFACE.md), or - for standard input')
    .option('--out <file>', 'write the result JSON here instead of standard output')
    .action(
      action((config: string, opts: { out?: string }) => {
        const cfg = readConfig(config);
        // progress on a terminal only: recorded times done
        const tty = process.stderr.isTTY;
        const onProgress = tty ? (done: number, total: number) => process.stderr.write(`\rsolve: ${done}/${total} recorded times`) : undefined;
        const result = solve(cfg, { onProgress });
        if (tty) process.stderr.write('\n');
        writeJson(result, opts.out);
      }),
    );
}
