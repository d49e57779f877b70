import seedrandom from 'seedrandom';

/**
 * Seeded random streams. A stream is named by a seed and a path of keys, e.g.
 * `stream(seed, 'mc', iteration, layer, sample)`: the numbers it draws depend on nothing else, so
 * "sample n of layer l in iteration k" is the same whatever ran before it and whichever worker runs it.
 */
export interface Rng {
  /** Uniform on [0, 1), 53 random bits. */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** Fill `out` with standard normals and return it. */
  fillNormal(out: Float64Array): Float64Array;
}

export type StreamKey = string | number;

export function streamName(seed: number, keys: readonly StreamKey[]): string {
  return [seed, ...keys].join('/');
}

export function stream(seed: number, ...keys: StreamKey[]): Rng {
  const prng = seedrandom.xor4096(streamName(seed, keys));
  let spare = 0;
  let hasSpare = false;
  const uniform = () => prng.double();
  // Marsaglia's polar method: two normals per accepted pair.
  const normal = () => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    let u: number, v: number, s: number;
    do {
      u = 2 * prng.double() - 1;
      v = 2 * prng.double() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    spare = v * m;
    hasSpare = true;
    return u * m;
  };
  return {
    uniform,
    normal,
    fillNormal(out) {
      for (let i = 0; i < out.length; i++) out[i] = normal();
      return out;
    },
  };
}
