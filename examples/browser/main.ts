import { solve } from '../../src/dmft/solve.js';
import { simulate } from '../../src/sim/ensemble.js';
import { simulateParallel } from '../../workers/ensemble.js';
import { simPool } from '../../workers/scripts.js';
import { solveWorkers } from '../../workers/solve.js';
import { browserConfig, browserEnsemble } from './config.js';

/**
 * The toolkit in a browser page (bundled by examples/browser/build.ts): an 8-seed simulation ensemble and a
 * Monte Carlo DMFT solve in a pool of Web Workers, each also run in the page itself. The page shows the
 * loss curves and whether the pool's numbers equal the in-page ones to the bit; scripts/test-browser.ts reads
 * the same from window.dmftResult.
 */
async function run() {
  const out = document.getElementById('out')!;
  const started = performance.now();
  const cfg = browserConfig(),
    opts = browserEnsemble;
  const pool = await simPool({ size: 2 });
  const simPooled = await simulateParallel(cfg, opts, pool);
  await pool.close();
  const simHere = simulate(cfg, opts);
  const mcPooled = await solveWorkers(cfg, {}, 2);
  const mcHere = solve(cfg);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  const result = {
    workers: navigator.hardwareConcurrency,
    sim: { trainLoss: simPooled.trainLoss, testLoss: simPooled.testLoss },
    mc: { trainLoss: mcPooled.trainLoss, testLoss: mcPooled.testLoss },
    simIdentical: same(simPooled.trainLoss, simHere.trainLoss) && same(simPooled.testLoss!, simHere.testLoss!),
    mcIdentical: same(mcPooled.trainLoss, mcHere.trainLoss) && same(mcPooled.testLoss!, mcHere.testLoss!),
    seconds: (performance.now() - started) / 1000,
  };
  out.textContent = JSON.stringify(result, null, 2);
  (window as unknown as { dmftResult: unknown }).dmftResult = result;
}

run().catch((e: Error) => {
  document.getElementById('out')!.textContent = `error: ${e.message}`;
  (window as unknown as { dmftResult: unknown }).dmftResult = { error: e.message };
});
