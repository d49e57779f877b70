import { parseConfig } from '../../src/core/config.js';

/** The problem of the browser example (main.ts), also run in Node by scripts/test-browser.mjs to compare. */
export const browserConfig = () =>
  parseConfig({
    data: { synthetic: { kind: 'single-index', P: 6, Ptest: 4, D: 4, seed: 1 } },
    model: { depth: 2, activation: 'tanh', gamma0: 1 },
    train: { T: 2, record: 5 },
    solver: { method: 'monte-carlo', samples: 256, replicas: 4, dt: 0.25 },
  });

export const browserEnsemble = { width: 128, seeds: 8, integrator: 'rk4' as const, dt: 0.05 };
