import { Command, Option } from 'commander';
import { InputError } from '../core/errors.js';
import type { EnsembleOptions } from '../sim/ensemble.js';
import { DEFAULT_DT, DEFAULT_TOL, type Integrator } from '../sim/train.js';
import { action, FORMAT_OPTION, intOption, onInterrupt, positiveOption, progressBar, readRun, writeResult, type Format } from './io.js';
import { simulateWorkers } from '../../workers/ensemble.js';

interface SimulateOptions extends Pick<EnsembleOptions, 'width' | 'seeds' | 'integrator' | 'dt' | 'tol'> {
  workers?: number;
  out?: string;
  quiet?: boolean;
  format?: Format;
}

function integratorOption(v: string): Integrator {
  if (v !== 'ck' && v !== 'rk4') throw new InputError('--integrator', `expected ck or rk4, got ${JSON.stringify(v)}`);
  return v;
}

/** `dmft simulate CONFIG --width N --seeds S`: finite-width networks of docs/INTERFACE.md. */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('mean and standard error over seeds of centered finite-width networks trained on CONFIG')
    .argument('<config>', 'config JSON file (docs/INTERFACE.md), or - for standard input')
    .requiredOption('--width <N>', 'hidden width N', intOption('--width'))
    .requiredOption('--seeds <S>', 'number of independently initialised networks', intOption('--seeds'))
    .addOption(
      new Option(
        '--integrator <name>',
        `gradient flow integrator: ck (adaptive Cash-Karp, tolerance --tol, default ${DEFAULT_TOL}) or rk4 (fixed step --dt, default ${DEFAULT_DT}); default ck, or rk4 for an activation with a kink (relu), where ck's step collapses; the result's meta names it`,
      ).argParser(integratorOption),
    )
    .option('--dt <h>', 'rk4 step (given alone, it selects rk4)', positiveOption('--dt'))
    .option('--tol <x>', 'ck tolerance (relative error per step of every weight; given alone, it selects ck)', positiveOption('--tol'))
    .option(
      '--workers <W>',
      'worker threads running the seeds (default: all cores; 1 runs them in this process); the result does not depend on it',
      intOption('--workers'),
    )
    .option('--out <file>', 'write the result here instead of standard output')
    .addOption(FORMAT_OPTION())
    .option('--quiet', 'no progress lines or bar on standard error (warnings and errors are still printed)')
    .action(
      action(async (config: string, o: SimulateOptions) => {
        const { cfg, record } = readRun(config);
        // --dt alone implies rk4
        const integrator = o.integrator ?? (o.dt !== undefined ? 'rk4' : undefined);
        const bar = progressBar('simulate', 'recorded times', o.quiet);
        const release = o.workers !== 1 ? onInterrupt('simulate', bar.status) : () => {};
        try {
          const result = await simulateWorkers(
            cfg,
            { width: o.width, seeds: o.seeds, integrator, dt: o.dt, tol: o.tol, onProgress: bar.update },
            o.workers,
          );
          bar.stop();
          writeResult(result, record, o.out, o.format);
        } catch (e) {
          bar.stop();
          if (e instanceof InputError && ['integrator', 'dt', 'tol', 'width', 'seeds'].includes(e.field))
            throw new InputError(`--${e.field}`, e.reason);
          throw e;
        } finally {
          release();
        }
      }),
    );
}
