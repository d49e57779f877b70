import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { parseConfig } from '../src/core/config.js';
import { replicasInMemory } from '../src/dmft/monte-carlo.js';
import { solve } from '../src/dmft/solve.js';
import { scheduleOf } from '../src/theory/lazy.js';

/**
 * Memory of the Monte Carlo solver: a replica's arrays are counted before it runs (replicasInMemory), so a
 * solve too large for the machine is refused at once, and the workers running at once are as many as fit.
 */
const config = (solver: object, model: object = {}) =>
  parseConfig({
    data: { synthetic: { kind: 'single-index', P: 10, Ptest: 20, D: 8, seed: 1 } },
    model: { depth: 3, activation: 'relu', gamma0: 1.5, ...model },
    train: { T: 2, record: 5 },
    solver,
  });
const fits = (solver: object, wanted: number, available?: number, model?: object) => {
  const cfg = config(solver, model);
  return replicasInMemory(cfg, scheduleOf(cfg.train), cfg.solver as object, 'monte-carlo', wanted, available);
};

describe('monte-carlo memory', () => {
  it("counts a replica's arrays as they are allocated (live ArrayBuffer bytes at the last step, after gc)", () => {
    // a child process with --expose-gc runs one replica of the compiled solver (npm test builds first)
    // one child process per case: ArrayBuffers freed by an earlier case may be released only later
    const measure = (activation: string, depth: number, samples: number) => {
      const script = `
        import { parseConfig } from './dist/src/core/config.js';
        import { planMonteCarlo, runReplica } from './dist/src/dmft/monte-carlo.js';
        import { replicaBytes } from './dist/src/dmft/mc/march.js';
        import { scheduleOf } from './dist/src/theory/lazy.js';
        const cfg = parseConfig({ data: { synthetic: { kind: 'single-index', P: 6, Ptest: 5, D: 4, seed: 1 } }, model: { depth: ${depth}, activation: '${activation}', gamma0: 1 }, train: { T: 2, record: 5 }, solver: { samples: ${samples} } });
        const plan = planMonteCarlo(cfg, scheduleOf(cfg.train), cfg.solver, 'monte-carlo');
        const estimate = replicaBytes(plan.pb, { samples: plan.M, responseSamples: plan.responseSamples, responses: plan.responses });
        gc();
        const before = process.memoryUsage().arrayBuffers;
        let live = 0;
        runReplica(plan, 1, 0, (k) => { if (k === plan.pb.t.length - 1) { gc(); live = process.memoryUsage().arrayBuffers - before; } });
        console.log(JSON.stringify({ estimate, live }));`;
      const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('..', import.meta.url) });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { estimate: number; live: number };
    };
    // relu: exact responses with the kink's control variate, 256 response samples for B; tanh: 16 for both
    const runs = [measure('relu', 3, 2048), measure('tanh', 2, 1024)];
    for (const { estimate, live } of runs) expect(Math.abs(estimate / live - 1)).toBeLessThan(0.02);
  });

  it('runs as many replicas at once as fit in 80% of the free memory, and refuses a solve none of whose replicas fits', () => {
    const { bytesPerReplica } = fits({ samples: 16384 }, 4, undefined);
    expect(fits({ samples: 16384 }, 4, undefined).concurrent).toBe(4); // platform silent: no check
    expect(fits({ samples: 16384 }, 4, (3.5 * bytesPerReplica) / 0.8).concurrent).toBe(3);
    expect(fits({ samples: 16384 }, 2, (3.5 * bytesPerReplica) / 0.8).concurrent).toBe(2);
    expect(() => fits({ samples: 16384 }, 4, (0.9 * bytesPerReplica) / 0.8)).toThrow(/^solver\.samples: one replica of 2048 samples \(16384 in 8 replicas\) needs .* of it the Jacobians of 32 \/ 512 response samples for A \/ B;/);
    // relu's B responses are most of it: a quarter of the replica's samples, P^2 K1 (K1 + 1) numbers each
    expect(bytesPerReplica).toBeGreaterThan(2 ** 30);
    // more replicas of fewer samples: less memory each
    expect(fits({ samples: 16384, replicas: 16 }, 1).bytesPerReplica).toBeLessThan(0.6 * bytesPerReplica);
    // an accuracy target is checked at its largest solve, solver.maxSamples
    const big = fits({ samples: 16384 }, 1).bytesPerReplica;
    expect(fits({ targetError: 0.02, maxSamples: 16384 }, 1).bytesPerReplica).toBe(big);
    expect(() => fits({ targetError: 0.02, maxSamples: 16384 }, 1, (0.5 * big) / 0.8)).toThrow(/^solver\.maxSamples: one replica of 2048 samples/);
    // and a result says what its replicas needed
    const small = config({ samples: 64, replicas: 2, responseSamples: 4, dt: 0.25 }, { depth: 2, activation: 'tanh' });
    expect(solve(small).meta.bytesPerReplica).toBe(replicasInMemory(small, scheduleOf(small.train), small.solver as object, 'monte-carlo', 1).bytesPerReplica);
  });

});
