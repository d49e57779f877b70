/**
 * Library entry: what a researcher scripts against (README, "Library"). Pools for one's own worker tasks are
 * in the `./workers` subpath (workers/index.ts); Node-only pieces (files, figures as SVG/PNG) live in src/cli
 * and src/plot/render.ts. Everything else is internal and may change.
 */

// configs, data and errors
export {
  parseConfig,
  parseConfigText,
  recordTimes,
  ACTIVATIONS,
  METHODS,
  type Config,
  type ConfigOptions,
  type Data,
  type Model,
  type Train,
  type Solver,
  type Output,
  type ActivationName,
  type Method,
} from './core/config.js';
export { InputError, ConvergenceError, DivergenceError } from './core/errors.js';
export { synthesize, SYNTHETIC_KINDS } from './core/synthetic.js';
export { configRecord, dataHash } from './core/provenance.js';
export { stream } from './core/rng.js';
export { VERSION } from './core/version.js';

// results
export {
  curvesCsv,
  errorEstimateOf,
  type Result,
  type Meta,
  type MetaCommon,
  type StaticNtkMeta,
  type TwoLayerMeta,
  type DeepLinearMeta,
  type MonteCarloMeta,
  type PerturbativeMeta,
  type SimulateMeta,
  type KernelsMeta,
  type KernelsOutput,
  type Histogram,
} from './core/result.js';

// infinite-width theory: kernels at t = 0, the lazy limit, the DMFT
export { initialKernels, inputKernel, type InitialKernels } from './theory/kernels.js';
export { solveLazy, lazyCurves, type LazyCurves } from './theory/lazy.js';
export { allInputs, scheduleOf, type Schedule } from './core/schedule.js';
export { kernelsResult } from './theory/report.js';
export { solve, chooseMethod, type SolveOptions, type SolverMethod } from './dmft/solve.js';
export { alignment } from './dmft/observables.js';
export { solveWorkers } from '../workers/solve.js';

// finite-width networks
export { simulate, type EnsembleOptions } from './sim/ensemble.js';
export { simulateNetwork, type NetworkOptions, type NetworkRun, type Integrator } from './sim/train.js';
export { simulateWorkers } from '../workers/ensemble.js';

// figures (Vega-Lite specs: render them with vega-embed in a browser, or `dmft plot`)
export {
  plotSpec,
  sweepSpec,
  timeIndex,
  PLOT_KINDS,
  type PlotKind,
  type PlotOptions,
  type SweepRecord,
  type SweepPlotOptions,
} from './plot/spec.js';
