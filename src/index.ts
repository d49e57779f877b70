/** Library entry: everything a researcher scripts against. Node-only pieces (file I/O) live in src/cli. */
export * from './core/config.js';
export * from './core/errors.js';
export * from './core/rng.js';
export * from './core/gaussian.js';
export * from './core/linalg.js';
export * from './core/result.js';
export * from './core/synthetic.js';
export { VERSION } from './core/version.js';
export * from './theory/activations.js';
export * from './theory/quadrature.js';
export * from './theory/expectations.js';
export * from './theory/kernels.js';
export * from './theory/lazy.js';
export * from './theory/report.js';
