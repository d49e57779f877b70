import { stream, type Rng } from './rng.js';
import type { Data } from './config.js';

/**
 * Synthetic learning problems (`data.synthetic` of shared/INTERFACE.md). Inputs are uniform on the
 * sphere |x|^2 = D. Teacher directions beta are uniform unit vectors and s = beta . x, so E[s^2] = 1.
 *   linear:        y = s1
 *   single-index:  y = tanh(2 s1)
 *   quadratic:     y = (s1^2 - 1) / sqrt(2)          (normalized Hermite He2)
 *   sum:           y = s1 + tanh(2 s2) + (s3^2 - 1)/sqrt(2), three independent directions
 * plus label noise N(0, noise^2). Teacher, train and test draws come from separate streams of `seed`.
 */
export const SYNTHETIC_KINDS = ['linear', 'single-index', 'quadratic', 'sum'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

export interface SyntheticSpec {
  kind: SyntheticKind;
  P: number;
  D: number;
  Ptest: number;
  noise: number;
  seed: number;
}

function sphere(rng: Rng, D: number, radius: number): number[] {
  const v = Array.from({ length: D }, () => rng.normal());
  const norm = Math.hypot(...v);
  return v.map((x) => (x * radius) / norm);
}

export function synthesize(spec: SyntheticSpec): Data {
  const { kind, P, D, Ptest, noise, seed } = spec;
  const teacher = stream(seed, 'synthetic', 'teacher');
  const betas = [0, 1, 2].map(() => sphere(teacher, D, 1));
  const proj = (x: number[], k: number) => betas[k].reduce((s, b, i) => s + b * x[i], 0);
  const he2 = (s: number) => (s * s - 1) / Math.SQRT2;
  const target = (x: number[]): number => {
    switch (kind) {
      case 'linear':
        return proj(x, 0);
      case 'single-index':
        return Math.tanh(2 * proj(x, 0));
      case 'quadratic':
        return he2(proj(x, 0));
      case 'sum':
        return proj(x, 0) + Math.tanh(2 * proj(x, 1)) + he2(proj(x, 2));
    }
  };
  const draw = (n: number, name: string) => {
    const rng = stream(seed, 'synthetic', name);
    const X = Array.from({ length: n }, () => sphere(rng, D, Math.sqrt(D)));
    const y = X.map((x) => target(x) + noise * rng.normal());
    return { X, y };
  };
  const train = draw(P, 'train');
  if (Ptest === 0) return train;
  const test = draw(Ptest, 'test');
  return { X: train.X, y: train.y, Xtest: test.X, ytest: test.y };
}
