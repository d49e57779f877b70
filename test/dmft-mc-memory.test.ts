import { describe, expect, it } from 'vitest';
import { replicasInMemory } from '../src/dmft/monte-carlo.js';
import { solve } from '../src/dmft/solve.js';
import { scheduleOf } from '../src/core/schedule.js';
import { parsedConfig } from './helpers.js';

/**
 * Memory of the Monte Carlo solver: a replica's arrays are counted before it runs (replicasInMemory), so a
 * solve too large for the machine is refused at once, and the workers running at once are as many as fit.
 */
const config = (solver: object, model: object = {}) =>
  parsedConfig(
    { P: 10, Ptest: 20, D: 8, seed: 1 },
    { model: { depth: 3, activation: 'relu', gamma0: 1.5, ...model }, train: { T: 2, record: 5 }, solver },
  );
const fits = (solver: object, wanted: number, available?: number, model?: object) => {
  const cfg = config(solver, model);
  return replicasInMemory(cfg, scheduleOf(cfg.train), cfg.solver as object, 'monte-carlo', wanted, available);
};

describe('monte-carlo memory', () => {
  it('runs as many replicas at once as fit in 80% of the free memory, and refuses a solve none of whose replicas fits', () => {
    const { bytesPerReplica } = fits({ samples: 16384 }, 4, undefined);
    expect(fits({ samples: 16384 }, 4, undefined).concurrent).toBe(4); // platform silent: no check
    expect(fits({ samples: 16384 }, 4, (3.5 * bytesPerReplica) / 0.8).concurrent).toBe(3);
    expect(fits({ samples: 16384 }, 2, (3.5 * bytesPerReplica) / 0.8).concurrent).toBe(2);
    expect(() => fits({ samples: 16384 }, 4, (0.9 * bytesPerReplica) / 0.8)).toThrow(
      /^solver\.samples: one replica of 2048 samples \(16384 in 8 replicas\) needs .* of it the Jacobians of 32 \/ 512 response samples for A \/ B;/,
    );
    // relu's B responses are most of it: a quarter of the replica's samples, P^2 K1 (K1 + 1) numbers each
    expect(bytesPerReplica).toBeGreaterThan(2 ** 30);
    // more replicas of fewer samples: less memory each
    expect(fits({ samples: 16384, replicas: 16 }, 1).bytesPerReplica).toBeLessThan(0.6 * bytesPerReplica);
    // an accuracy target is checked at its largest solve, solver.maxSamples
    const big = fits({ samples: 16384 }, 1).bytesPerReplica;
    expect(fits({ targetError: 0.02, maxSamples: 16384 }, 1).bytesPerReplica).toBe(big);
    expect(() => fits({ targetError: 0.02, maxSamples: 16384 }, 1, (0.5 * big) / 0.8)).toThrow(
      /^solver\.maxSamples: one replica of 2048 samples/,
    );
    // and a result says what its replicas needed
    const small = config({ samples: 64, replicas: 2, responseSamples: 4, dt: 0.25 }, { depth: 2, activation: 'tanh' });
    expect(solve(small).meta.bytesPerReplica).toBe(
      replicasInMemory(small, scheduleOf(small.train), small.solver as object, 'monte-carlo', 1).bytesPerReplica,
    );
  });
});
