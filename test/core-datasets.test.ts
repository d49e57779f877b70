import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseConfig } from '../src/core/config.js';
import { loadDataset, type DatasetSpec } from '../src/core/datasets.js';
import { refusal } from './helpers.js';

const rest = { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 2, record: 3 } };
const data = (dataset: Record<string, unknown>) => parseConfig({ ...rest, data: { dataset } }).data;
const mnist35 = { name: 'mnist', classes: [3, 5], P: 20, Ptest: 200, seed: 0 };

/** The package's images of digit `d`, read here without the module under test. */
const digits = (d: number): number[] =>
  JSON.parse(readFileSync(createRequire(import.meta.url).resolve(`mnist/src/digits/${d}.json`), 'utf8')).data;
const sq = (x: number[]) => x.reduce((s, v) => s + v * v, 0);
const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
const key = (x: number[]) => x.join(',');

/** The one-line message of the refusal of `dataset`. */
function message(dataset: Record<string, unknown>): string {
  const { message } = refusal(() => data(dataset));
  expect(message).not.toContain('\n');
  return message;
}

describe('data.dataset (MNIST from the mnist package)', () => {
  it('gives a balanced, seeded binary task: +1 the first class, -1 the second, test disjoint from train, |x|^2 = D', () => {
    const d = data(mnist35);
    expect(d.X).toHaveLength(20);
    expect(d.Xtest).toHaveLength(200);
    expect(d.y.filter((v) => v === 1)).toHaveLength(10);
    expect(d.y.filter((v) => v === -1)).toHaveLength(10);
    expect(d.ytest!.filter((v) => v === 1)).toHaveLength(100);
    expect(d.ytest!.filter((v) => v === -1)).toHaveLength(100);
    for (const x of [...d.X, ...d.Xtest!]) {
      expect(x).toHaveLength(784);
      expect(sq(x)).toBeCloseTo(784, 9);
    }
    // every point is an image of its class scaled to |x|^2 = 784 (cosine 1 with one of them)
    const images = (c: number) => {
      const px = digits(c);
      return Array.from({ length: px.length / 784 }, (_, i) => px.slice(784 * i, 784 * (i + 1)));
    };
    const threes = images(3),
      fives = images(5);
    const isImageOf = (x: number[], imgs: number[][]) => imgs.some((img) => dot(x, img) / Math.sqrt(784 * sq(img)) > 1 - 1e-12);
    d.X.concat(d.Xtest!).forEach((x, i) => expect(isImageOf(x, (i < 20 ? d.y[i] : d.ytest![i - 20]) === 1 ? threes : fives)).toBe(true));
    expect(d.X.filter((x, i) => isImageOf(x, d.y[i] === 1 ? fives : threes))).toEqual([]);
    // no image twice, none in both sets
    const train = new Set(d.X.map(key)),
      test = new Set(d.Xtest!.map(key));
    expect(train.size).toBe(20);
    expect(test.size).toBe(200);
    expect([...test].filter((x) => train.has(x))).toEqual([]);
  });

  it('is the same for the same seed, different for another, nested in P, with a test set that does not depend on P', () => {
    const a = data(mnist35),
      b = data(mnist35),
      c = data({ ...mnist35, seed: 1 });
    expect(b).toEqual(a);
    expect(c.X).not.toEqual(a.X);
    expect(new Set(c.X.map(key))).not.toEqual(new Set(a.X.map(key)));
    // the cache of pools changes nothing: the same task built from scratch with a loader
    const spec = { ...mnist35, center: true } as DatasetSpec;
    const built = loadDataset(spec, (_, cls) => digits(cls));
    expect(built).toEqual(data(spec as unknown as Record<string, unknown>));
    const big = data({ ...mnist35, P: 40 });
    expect(big.X.slice(0, 20)).toEqual(a.X);
    expect(big.Xtest).toEqual(a.Xtest);
    // with principal components too: fixed by the pool, so the inputs of a point do not depend on P
    const pca = data({ ...mnist35, D: 10 }),
      pcaBig = data({ ...mnist35, D: 10, P: 40 });
    expect(pcaBig.X.slice(0, 20)).toEqual(pca.X);
    expect(pcaBig.Xtest).toEqual(pca.Xtest);
    expect(data({ ...mnist35, D: 10, seed: 1 }).X).not.toEqual(pca.X);
  });

  it('centers on the pool mean and projects on its principal components (|x|^2 = D, a rotation when D = 784)', () => {
    const centered = data({ ...mnist35, center: true, Ptest: 0 });
    const pca = data({ ...mnist35, center: true, Ptest: 0, D: 784 });
    const small = data({ ...mnist35, center: true, D: 10 });
    expect(small.X[0]).toHaveLength(10);
    for (const x of [...small.X, ...small.Xtest!]) expect(sq(x)).toBeCloseTo(10, 10);
    // all 784 components: the same point up to a rotation, so the same dot products
    for (let i = 0; i < 20; i++)
      for (let j = 0; j < 20; j++) expect(dot(pca.X[i], pca.X[j])).toBeCloseTo(dot(centered.X[i], centered.X[j]), 8);
    // centering changes the inputs: raw MNIST images have dot products far from 0, centered ones less so
    const raw = data({ ...mnist35, Ptest: 0 });
    const meanDot = (X: number[][]) => X.reduce((s, x, i) => s + (i ? dot(x, X[0]) : 0), 0) / (X.length - 1) / 784;
    expect(meanDot(raw.X)).toBeGreaterThan(0.2);
    expect(Math.abs(meanDot(centered.X))).toBeLessThan(meanDot(raw.X) / 2);
  });

  it('refuses bad dataset fields with one line naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ ...mnist35, name: 'cifar' }, 'data.dataset.name: expected one of mnist; got "cifar"'],
      [{ ...mnist35, classes: [3, 10] }, 'data.dataset.classes[1]: must be <= 9, got 10'],
      [{ ...mnist35, classes: [-1, 5] }, 'data.dataset.classes[0]: must be >= 0, got -1'],
      [{ ...mnist35, classes: [3, 3] }, 'data.dataset.classes: expected two different classes, got [3, 3]'],
      [{ ...mnist35, classes: [3] }, 'data.dataset.classes: expected two classes [a, b] (labels +1 and -1), got 1'],
      [{ ...mnist35, P: 21 }, 'data.dataset.P: must be even (P/2 points of each class), got 21'],
      [{ ...mnist35, Ptest: 7 }, 'data.dataset.Ptest: must be even (Ptest/2 points of each class), got 7'],
      [
        { ...mnist35, P: 1800, Ptest: 0 },
        'data.dataset.P: P + Ptest = 1800 needs 900 images of each class; the pool of classes 3 and 5 has 863 of each (P + Ptest <= 1726)',
      ],
      [
        { ...mnist35, P: 1000, Ptest: 1000 },
        'data.dataset.Ptest: P + Ptest = 2000 needs 1000 images of each class; the pool of classes 3 and 5 has 863 of each (P + Ptest <= 1726)',
      ],
      [{ ...mnist35, D: 785 }, 'data.dataset.D: at most 784 (28 x 28 pixels), got 785'],
      [{ ...mnist35, D: 0 }, 'data.dataset.D: must be > 0, got 0'],
      [{ ...mnist35, P: undefined }, 'data.dataset.P: required'],
      [{ ...mnist35, centre: true }, 'data.dataset.centre: unknown field'],
    ];
    for (const [dataset, want] of cases) expect(message(dataset)).toBe(want);
    expect(() => parseConfig({ ...rest, data: { dataset: mnist35, X: [[1]] } })).toThrow('data.X: unknown field');
  });
});
