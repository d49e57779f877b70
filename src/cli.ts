#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from './core/version.js';
import { action, emitResult, FORMAT_OPTION, readConfig, readRun, reportAndExit, writeJson, type Format } from './cli/io.js';
import { solveLazy } from './theory/lazy.js';
import { kernelsResult } from './theory/report.js';
import { registerSweep } from './cli/sweep.js';
import { registerSimulate } from './cli/simulate.js';
import { registerSolve } from './cli/solve.js';
import { registerPlot } from './cli/plot.js';

/** The `dmft` command line of docs/INTERFACE.md. Results go to stdout or --out; messages to stderr. */
const program = new Command()
  .name('dmft')
  .description('DMFT of feature learning in wide neural networks: theory curves and finite-width simulations')
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();

program
  .command('lazy')
  .description('static-NTK (lazy, gamma0 -> 0) learning curves of CONFIG')
  .argument('<config>', 'config JSON file (docs/INTERFACE.md), or - for standard input')
  .option('--out <file>', 'write the result here instead of standard output')
  .addOption(FORMAT_OPTION())
  .action(
    action((config: string, opts: { out?: string; format?: Format }) => {
      const { cfg, record } = readRun(config);
      return emitResult(() => solveLazy(cfg), record, opts.out, opts.format);
    }),
  );

program
  .command('kernels')
  .description('infinite-width kernels at initialisation: K^x, Phi^l, G^l and the NTK over train + test points')
  .argument('<config>', 'config JSON file, or - for standard input')
  .option('--out <file>', 'write the JSON here instead of standard output')
  .action(action((config: string, opts: { out?: string }) => writeJson(kernelsResult(readConfig(config)), opts.out)));

registerSimulate(program);

registerSolve(program);

registerSweep(program);

registerPlot(program);

// a reader that stops early (`dmft solve C | head`) closes the pipe: end quietly, as other tools do
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  reportAndExit(e);
});

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // commander already printed its one-line message (unknown option, missing argument, --help);
  // anything else (an option parser's InputError) is reported here
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  reportAndExit(e);
}
