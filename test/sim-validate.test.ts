import { describe, expect, it } from 'vitest';
import { compareWithFixture, readFixture } from '../examples/validate-sim.js';

/**
 * Against the independent implementation's ensemble (test/fixtures). Same width and RK4 step, so the
 * O(1/N) bias and the integrator error (~1e-7 at dt = 0.05) are common; the only expected difference is
 * the scatter over seeds (sigma of examples/validate-sim.ts): < 4 sigma at every time, and the issue's
 * criterion, 3% relative at every time.
 */
describe('validation against the reference ensemble', () => {
  it('two-layer tanh, gamma0 = 1.5: N = 4000, 8 seeds, all 41 times', () => {
    const { deviations, seconds } = compareWithFixture(readFixture('two_layer_tanh_g1.5'));
    console.log(
      `two-layer: ${deviations.map((d) => `${d.curve} max rel ${(100 * d.relative).toFixed(2)}%, ${d.sigmas.toFixed(2)} sigma at t = ${+d.worstT.toFixed(6)}`).join('; ')} (${seconds.toFixed(1)} s)`,
    );
    for (const d of deviations) {
      expect(d.relative).toBeLessThan(0.03);
      expect(d.sigmas).toBeLessThan(4);
    }
  });
});
