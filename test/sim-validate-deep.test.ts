import { describe, expect, it } from 'vitest';
import { compareWithFixture, readFixture } from '../examples/validate-sim.js';

/**
 * Reduced validation against the deep reference (the full one, 6 seeds to t = 15, is in
 * examples/validate-sim.ts): same width N = 1500 and RK4 step, 2 seeds, t <= 1.5. The only expected
 * difference is the scatter over seeds: sigma = sqrt(SD^2 / 2 + Sem_ref^2) with the reference's per-seed
 * SD; we require < 4 sigma at every time.
 */
describe('validation against the reference ensemble (reduced)', () => {
  it('deep tanh L = 2, gamma0 = 0.5: N = 1500, 2 seeds, t <= 1.5', () => {
    const { deviations, seconds } = compareWithFixture(readFixture('deep_tanh_L2_g0.5'), { seeds: 2, upTo: 5 });
    console.log(
      `deep (reduced): ${deviations.map((d) => `${d.curve} max rel ${(100 * d.relative).toFixed(2)}%, ${d.sigmas.toFixed(2)} sigma at t = ${+d.worstT.toFixed(6)}`).join('; ')} (${seconds.toFixed(1)} s)`,
    );
    for (const d of deviations) expect(d.sigmas).toBeLessThan(4);
  });
});
