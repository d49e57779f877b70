/**
 * The main example (`npm run demo`): one synthetic learning problem, a two-layer tanh network with
 * feature learning (gamma0 = 1.5), three curves of the same quantity:
 *   - lazy: the infinite-width static NTK (gamma0 -> 0),
 *   - DMFT: the infinite-width feature-learning dynamics (two-layer particle solver),
 *   - networks: the mean over 4 seeds of centered finite networks of width 1000 (simulator).
 * The DMFT and the networks should agree within the networks' error bars plus O(1/N); lazy should not.
 */
import { writeFileSync } from 'node:fs';
import { parseConfig } from '../src/core/config.js';
import { errorEstimateOf } from '../src/core/result.js';
import { renderPng } from '../src/plot/render.js';
import { plotSpec } from '../src/plot/spec.js';
import { solve } from '../src/dmft/solve.js';
import { solveLazy } from '../src/theory/lazy.js';
import { simulateWorkers } from '../workers/ensemble.js';

const config = parseConfig({
  data: { synthetic: { kind: 'single-index', P: 20, Ptest: 50, D: 10, noise: 0.05, seed: 1 } },
  model: { depth: 1, activation: 'tanh', gamma0: 1.5 },
  train: { T: 30, record: 31 },
});

console.log('Task: y = tanh(2 beta.x) + noise, x on the sphere in D = 10, P = 20 train / 50 test points.');
console.log('Model: two-layer tanh network, mean-field scaling, gamma0 = 1.5, gradient flow to T = 30.\n');
const lazy = solveLazy(config);
const dmft = solve(config);
const sim = await simulateWorkers(config, { width: 1000, seeds: 4 });

const f = (x: number) => x.toFixed(4).padStart(8);
console.log('     t |  test loss: lazy     DMFT   networks (+- SEM)  | train loss: DMFT  networks');
for (let k = 0; k < lazy.t.length; k += 5)
  console.log(
    `${lazy.t[k].toFixed(0).padStart(6)} | ${f(lazy.testLoss![k])} ${f(dmft.testLoss![k])} ${f(sim.testLoss![k])} +- ${sim.testLossSem![k].toFixed(4)} | ${f(dmft.trainLoss[k])} ${f(sim.trainLoss[k])}`,
  );
console.log('\ntest loss against t:  L lazy   D DMFT   N networks (N = 1000)   * DMFT and networks on one cell');
console.log(
  chart(lazy.t, [lazy.testLoss!, dmft.testLoss!, sim.testLoss!], ['L', 'D', 'N'], process.stdout.isTTY ? [34, 32, 31] : undefined),
);
const gap = Math.max(...dmft.testLoss!.map((v, k) => Math.abs(v / sim.testLoss![k] - 1)));
console.log(
  `\nlargest DMFT-vs-network test-loss gap: ${(100 * gap).toFixed(1)}% (DMFT estimated error ${(100 * (errorEstimateOf(dmft.meta) ?? NaN)).toFixed(1)}%)`,
);
console.log(
  `times: lazy ${lazy.meta.seconds.toFixed(2)} s, DMFT ${dmft.meta.seconds.toFixed(2)} s, networks ${sim.meta.seconds.toFixed(2)} s`,
);
// the same figure as `dmft plot lazy.json dmft.json nets.json --out demo-loss.png`
const figure = 'demo-loss.png';
writeFileSync(
  figure,
  await renderPng(plotSpec([lazy, dmft, sim], 'loss', { title: 'Two-layer tanh, gamma0 = 1.5: lazy, DMFT and networks of width 1000' })),
);
console.log(`figure: ${figure} (train and test loss against t)`);

/**
 * A character plot of curves against t: one letter per curve, so that overlapping curves stay distinguishable
 * ('*' where D and N share a cell); ANSI colours only when `colors` is given (stdout is a terminal).
 */
function chart(t: number[], curves: number[][], marks: string[], colors?: number[], width = 64, height = 14): string {
  const all = curves.flat(),
    lo = Math.min(...all),
    hi = Math.max(...all);
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  const tMax = t[t.length - 1];
  curves.forEach((c, i) =>
    c.forEach((v, k) => {
      const col = Math.round((t[k] / tMax) * (width - 1)),
        row = Math.round(((hi - v) / (hi - lo || 1)) * (height - 1));
      const here = grid[row][col];
      const mark = colors ? `\x1b[${colors[i]}m${marks[i]}\x1b[0m` : marks[i];
      grid[row][col] = here === ' ' || here.includes(marks[0]) ? mark : here.includes(marks[i]) ? here : '*';
    }),
  );
  const label = (row: number) => (hi - ((hi - lo) * row) / (height - 1)).toFixed(3).padStart(7);
  const lines = grid.map((cells, row) => `${row % 3 === 0 ? label(row) : ' '.repeat(7)} |${cells.join('')}`);
  return [...lines, `${' '.repeat(8)}+${'-'.repeat(width)}`, `${' '.repeat(8)}0${`t = ${tMax}`.padStart(width)}`].join('\n');
}
