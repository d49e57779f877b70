import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/core/config.js';
import { simulate } from '../src/sim/ensemble.js';

/**
 * Validation of the simulator against an independent implementation: test/fixtures/*.json hold a config
 * and `reference`, the mean over seeds of wide centered networks trained by RK4 (width, seeds, dt, t,
 * trainLoss/testLoss with *Sem). We run the same width, number of seeds and RK4 step at the reference's
 * own times (snapped to its RK4 grid) and report the largest relative deviation over recorded times and
 * the largest deviation in units of the standard error of the difference of the two means (the O(1/N)
 * bias is the same at equal width, so the seeds' scatter is the only expected difference). The per-seed
 * scatter is taken from the reference, SD = Sem_ref sqrt(S_ref), which also serves runs with few seeds:
 * sigma = sqrt(SD^2 / S_ours + Sem_ref^2).
 */
export interface Reference {
  width: number;
  seeds: number;
  dt: number;
  t: number[];
  trainLoss: number[];
  trainLossSem: number[];
  testLoss: number[];
  testLossSem: number[];
}

export interface Fixture {
  name: string;
  config: unknown;
  reference: Reference;
}

export function readFixture(name: string): Fixture {
  // the source tree's test/fixtures, from examples/ or from the compiled dist/examples/
  const path = [new URL(`../test/fixtures/${name}.json`, import.meta.url), new URL(`../../test/fixtures/${name}.json`, import.meta.url)]
    .map((u) => fileURLToPath(u))
    .find(existsSync);
  if (!path) throw new Error(`fixture ${name} not found`);
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

export interface Deviation {
  curve: 'trainLoss' | 'testLoss';
  /** max over times of |ours - ref| / ref */
  relative: number;
  /**
   * max over times of |ours - ref| / sigma; where sigma vanishes to rounding (t = 0: every centered
   * network starts at f = 0) the curves must agree to 1e-12 relative instead
   */
  sigmas: number;
  /** the time of the largest deviation in SEM units */
  worstT: number;
}

/** Simulate the fixture's ensemble on `times` (default: all of the reference's) and compare. */
export function compareWithFixture(
  fx: Fixture,
  opts: { seeds?: number; upTo?: number } = {},
): { deviations: Deviation[]; seconds: number } {
  const ref = fx.reference;
  const n = opts.upTo ?? ref.t.length;
  const started = performance.now();
  const seeds = opts.seeds ?? ref.seeds;
  const res = simulate(parseConfig(fx.config), { width: ref.width, seeds, integrator: 'rk4', dt: ref.dt, times: ref.t.slice(0, n) });
  const deviations = (['trainLoss', 'testLoss'] as const).map((curve) => {
    const ours = res[curve]!;
    let relative = 0,
      sigmas = 0,
      worstT = 0;
    for (let k = 0; k < n; k++) {
      const d = Math.abs(ours[k] - ref[curve][k]);
      relative = Math.max(relative, d / ref[curve][k]);
      const s = ref[`${curve}Sem`][k] * Math.sqrt(ref.seeds / seeds + 1);
      const z = s > 1e-12 * ref[curve][k] ? d / s : d > 1e-12 * ref[curve][k] ? Infinity : 0;
      if (z > sigmas) [sigmas, worstT] = [z, ref.t[k]];
    }
    return { curve, relative, sigmas, worstT };
  });
  return { deviations, seconds: (performance.now() - started) / 1000 };
}

/** `npm run validate`: both fixtures at full width, seeds and time range; a markdown table. */
export async function validateSim(): Promise<string> {
  const rows = [
    '| fixture | width | seeds | curve | max rel. deviation | max deviation / sigma of the difference (at t) | seconds |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const name of ['two_layer_tanh_g1.5', 'deep_tanh_L2_g0.5']) {
    const fx = readFixture(name);
    const { deviations, seconds } = compareWithFixture(fx);
    for (const d of deviations)
      rows.push(
        `| ${name} | ${fx.reference.width} | ${fx.reference.seeds} | ${d.curve} | ${(100 * d.relative).toFixed(2)}% | ${d.sigmas.toFixed(2)} (t = ${+d.worstT.toFixed(6)}) | ${seconds.toFixed(1)} |`,
      );
  }
  return rows.join('\n');
}
