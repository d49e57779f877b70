import erf from '@stdlib/math-base-special-erf';
import erfc from '@stdlib/math-base-special-erfc';
import type { ActivationName } from '../core/config.js';

/** An activation phi with its first two derivatives. */
export interface Activation {
  name: ActivationName;
  phi(x: number): number;
  dphi(x: number): number;
  d2phi(x: number): number;
  /** phi' jumps by 1 at 0 (relu): d2phi is then only the regular part of phi'' (0), without the delta(h) */
  kink?: boolean;
}

const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
/** Standard normal density and distribution function (erfc keeps the left tail accurate). */
const npdf = (x: number) => INV_SQRT_2PI * Math.exp(-0.5 * x * x);
const ncdf = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

const table: Record<ActivationName, Omit<Activation, 'name'>> = {
  linear: { phi: (x) => x, dphi: () => 1, d2phi: () => 0 },
  relu: { phi: (x) => (x > 0 ? x : 0), dphi: (x) => (x > 0 ? 1 : 0), d2phi: () => 0, kink: true },
  tanh: {
    phi: Math.tanh,
    dphi: (x) => {
      const t = Math.tanh(x);
      return 1 - t * t;
    },
    d2phi: (x) => {
      const t = Math.tanh(x);
      return -2 * t * (1 - t * t);
    },
  },
  erf: {
    phi: erf,
    dphi: (x) => 2 * INV_SQRT_PI * Math.exp(-x * x),
    d2phi: (x) => -4 * x * INV_SQRT_PI * Math.exp(-x * x),
  },
  softplus: {
    // log(1 + e^x) without overflow
    phi: (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))),
    dphi: sigmoid,
    d2phi: (x) => {
      const s = sigmoid(x);
      return s * (1 - s);
    },
  },
  gelu: {
    // exact GELU x Phi(x)
    phi: (x) => x * ncdf(x),
    dphi: (x) => ncdf(x) + x * npdf(x),
    d2phi: (x) => (2 - x * x) * npdf(x),
  },
};

export function activation(name: ActivationName): Activation {
  return { name, ...table[name] };
}
