/**
 * The main example (`npm run demo`): one synthetic learning problem, its static-NTK (lazy) learning
 * curve from the infinite-width theory, printed as a table and a terminal plot.
 */
import asciichart from 'asciichart';
import { parseConfig } from '../src/core/config.js';
import { solveLazy } from '../src/theory/lazy.js';

const config = parseConfig({
  data: { synthetic: { kind: 'sum', P: 20, Ptest: 50, D: 10, noise: 0.1, seed: 1 } },
  model: { depth: 2, activation: 'tanh', gamma0: 1 },
  train: { T: 40, record: 41 },
});

const lazy = solveLazy(config);
console.log('Synthetic task: y = s1 + tanh(2 s2) + He2(s3) + noise, P = 20 train / 50 test points, D = 10');
console.log('Network: depth 2 (three-layer MLP), tanh. Curve: infinite-width static NTK (lazy limit).\n');
console.log('     t   train loss   test loss');
for (let k = 0; k < lazy.t.length; k += 5)
  console.log(`${lazy.t[k].toFixed(1).padStart(6)}   ${lazy.trainLoss[k].toFixed(5).padStart(10)}   ${lazy.testLoss![k].toFixed(5).padStart(9)}`);
console.log('\nlosses vs t (blue: train, red: test)');
console.log(
  asciichart.plot([lazy.trainLoss, lazy.testLoss!], { height: 12, colors: [asciichart.blue, asciichart.red], format: (x: number) => x.toFixed(3).padStart(7) }),
);
console.log(`\nsolved in ${(lazy.meta.seconds * 1000).toFixed(0)} ms`);
