import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ConfigOptions } from '../src/core/config.js';
import { dataFileOptions } from '../src/cli/io.js';
import { solveLazy } from '../src/theory/lazy.js';
import { readSweep } from '../src/cli/sweep/schema.js';
import { expandPoints, sweepId } from '../src/cli/sweep/points.js';
import { refusal, runCli, tempDir, writeIn } from './helpers.js';

const dir = tempDir('data-files');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const files = dataFileOptions(dir);

/**
 * The bytes numpy's np.save writes for `values` of `shape` (format 1.0, or 2.0/3.0), written here by hand so
 * that the test does not depend on the parser under test (nor on numpy).
 */
function npy(values: number[], shape: number[], { descr = '<f8', fortran = false, version = 1 } = {}): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  const len = Math.ceil((pre + dict.length + 1) / 64) * 64 - pre;
  const header = dict.padEnd(len - 1, ' ') + '\n';
  const size = /[48]$/.exec(descr) ? Number(descr.slice(-1)) : 8;
  const out = new Uint8Array(pre + len + values.length * size);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, len, true);
  else view.setUint32(8, len, true);
  out.set(
    Array.from(header, (c) => c.charCodeAt(0)),
    pre,
  );
  const little = !descr.startsWith('>');
  values.forEach((v, i) => (size === 8 ? view.setFloat64(pre + len + 8 * i, v, little) : view.setFloat32(pre + len + 4 * i, v, little)));
  return out;
}

/** Writes the file `name` into the test directory; returns its name (data paths are relative to the config). */
function write(name: string, bytes: Uint8Array | string): string {
  writeIn(dir, name, bytes);
  return name;
}

// a small problem on the sphere |x|^2 = D, float32-exact so that a float32 file holds the same numbers
const P = 12,
  Pt = 5,
  D = 4;
const point = (i: number) => {
  const v = Array.from({ length: D }, (_, k) => Math.sin(1.7 * i + 2.3 * k + 0.4));
  const s = Math.sqrt(D) / Math.hypot(...v);
  return v.map((x) => Math.fround(x * s));
};
const X = Array.from({ length: P }, (_, i) => point(i));
const Xtest = Array.from({ length: Pt }, (_, i) => point(P + i));
const target = (x: number[]) => Math.fround(Math.tanh(x[0] + 0.5 * x[1]));
const y = X.map(target),
  ytest = Xtest.map(target);
const flat = (m: number[][]) => m.flat();

const rest = { model: { depth: 1, activation: 'tanh', gamma0: 0.5 }, train: { T: 4, record: 5 } };
const cfg = (data: Record<string, unknown>, options: ConfigOptions = files) => parseConfig({ ...rest, data }, options);
const inline = cfg({ X, y, Xtest, ytest });
/** The result without its wall-clock time. */
const lazy = (c: ReturnType<typeof cfg>) => {
  const r = solveLazy(c);
  return { ...r, meta: { ...r.meta, seconds: 0 } };
};

/** The one-line message of the refusal of `data`. */
function message(data: Record<string, unknown>, options: ConfigOptions = files): string {
  const { message } = refusal(() => cfg(data, options));
  expect(message).not.toContain('\n');
  return message;
}

describe('data files', () => {
  it('an .npy file (float64, float32, big-endian, format 2.0 and 3.0) gives the same arrays and solve as inline data', () => {
    const f64 = {
      X: write('X.npy', npy(flat(X), [P, D])),
      y: write('y.npy', npy(y, [P])),
      Xtest: write('Xtest.npy', npy(flat(Xtest), [Pt, D], { version: 2 })),
      ytest: write('ytest.npy', npy(ytest, [Pt, 1], { version: 3 })),
    };
    const f32 = {
      X: write('X32.npy', npy(flat(X), [P, D], { descr: '<f4' })),
      y: write('y32.npy', npy(y, [P], { descr: '<f4' })),
      Xtest: write('Xtest32.npy', npy(flat(Xtest), [Pt, D], { descr: '<f4' })),
      ytest: write('ytest32.npy', npy(ytest, [Pt], { descr: '<f4' })),
    };
    const big = { ...f64, X: write('Xbe.npy', npy(flat(X), [P, D], { descr: '>f8' })), y: write('ybe.npy', npy(y, [P], { descr: '>f4' })) };
    const want = lazy(inline);
    for (const data of [f64, f32, big]) {
      const c = cfg(data);
      expect(c.data).toEqual(inline.data);
      expect(lazy(c)).toEqual(want);
    }
    // an n x 1 array in Fortran order is laid out as in C order
    expect(cfg({ ...f64, y: write('yF.npy', npy(y, [P, 1], { fortran: true })) }).data.y).toEqual(y);
  });

  it('a .csv file (no header, one row per point) gives the same solve as inline data; fields may mix', () => {
    const csv = (m: number[][]) => m.map((r) => r.map((v) => String(v)).join(',')).join('\n') + '\n';
    const data = {
      X: write('X.csv', csv(X)),
      y: write('y.csv', y.map(String).join('\r\n')),
      Xtest: write('Xtest.csv', '\ufeff' + csv(Xtest).replace(/,/g, ', ')),
      ytest: write('ytest.csv', csv(ytest.map((v) => [v]))),
    };
    const c = cfg(data);
    expect(c.data).toEqual(inline.data);
    expect(lazy(c)).toEqual(lazy(inline));
    expect(cfg({ X: data.X, y, Xtest, ytest: write('yt.npy', npy(ytest, [Pt])) }).data).toEqual(inline.data);
  });

  it('refuses wrong dtypes, layouts, shapes, files and cells with one line naming the field', () => {
    const y2 = write('y2.npy', npy(y, [P]));
    const cases: [Record<string, unknown>, string][] = [
      [
        { X: write('Xi8.npy', npy(flat(X), [P, D], { descr: '<i8' })), y },
        `data.X: ${dir}/Xi8.npy has dtype '<i8' (int64); expected float64 or float32`,
      ],
      [
        {
          X: write(
            'Xc.npy',
            npy(
              flat(X).flatMap((v) => [v, 0]),
              [P, D],
              { descr: '<c16' },
            ),
          ),
          y,
        },
        `data.X: ${dir}/Xc.npy has dtype '<c16' (complex128); expected float64`,
      ],
      [
        { X: write('Xf.npy', npy(flat(X), [P, D], { fortran: true })), y },
        `data.X: ${dir}/Xf.npy is in Fortran order (fortran_order: True); expected C order`,
      ],
      [
        { X: write('X1.npy', npy(flat(X), [P * D])), y },
        `data.X: ${dir}/X1.npy holds an array of shape (48,) (1-d); expected a 2-d array (points x input dimension D)`,
      ],
      [
        { X: write('X3.npy', npy(flat(X), [P, 2, 2])), y },
        `data.X: ${dir}/X3.npy holds an array of shape (12, 2, 2) (3-d); expected a 2-d array`,
      ],
      [
        { X, y: write('yM.npy', npy(flat(X), [P, D])) },
        `data.y: ${dir}/yM.npy holds an array of shape (12, 4); expected a 1-d array (one target per point) or n x 1`,
      ],
      [
        { X, y: write('yT.npy', npy(y, [P]).subarray(0, 128 + 8 * (P - 1))) },
        `data.y: ${dir}/yT.npy has 88 bytes of data; shape (12,) of float64 needs 96 (a truncated or damaged file)`,
      ],
      [
        { X, y: write('bad.npy', 'not numpy') },
        `data.y: ${dir}/bad.npy is not a valid .npy file (it does not start with the magic string \\x93NUMPY)`,
      ],
      [{ X: 'missing.npy', y }, `data.X: cannot read ${dir}/missing.npy (no such file)`],
      [{ X: 'X.txt', y }, 'data.X: expected an array or the path of a .npy or .csv file, got "X.txt"'],
      [
        { X: write('Xh.csv', 'a,b,c,d\n1,2,3,4\n'), y },
        `data.X: ${dir}/Xh.csv line 1, column 1: expected a number, got "a" (the file must have no header line)`,
      ],
      [{ X: write('Xx.csv', '1,2,3,4\n1,2,,4\n'), y }, `data.X: ${dir}/Xx.csv line 2, column 3: expected a number, got an empty cell`],
      [{ X: write('Xn.csv', '1,2,3,4\n1,2,nan,4\n'), y }, `data.X: ${dir}/Xn.csv line 2, column 3: expected a number, got "nan"`],
      [{ X: write('Xq.csv', '1,2,3,4\n1,"2,3,4\n'), y }, `data.X: ${dir}/Xq.csv cannot be parsed as CSV (Quote Not Closed`],
      [{ X, y: write('y2.csv', '1,2\n') }, `data.y: ${dir}/y2.csv line 1: expected one value per line (one target per point), got 2`],
      // the checks of inline arrays apply to arrays read from files
      [{ X: write('Xr.csv', '1,2,3,4\n1,2,3\n'), y }, 'data.X[1]: expected 4 values (the input dimension D), got 3'],
      [{ X, y: write('y11.npy', npy(y.slice(1), [P - 1])) }, 'data.y: expected 12 values (one per row of data.X), got 11'],
      [
        { X, y, Xtest: write('Xt3.npy', npy(flat(Xtest).slice(0, 3 * Pt), [Pt, 3])), ytest },
        'data.Xtest[0]: expected 4 values (the input dimension D), got 3',
      ],
      [{ X: write('Xinf.csv', '1,2,3,1e999\n'), y: [1] }, 'data.X[0][3]: expected a finite number, got Infinity'],
      [{ X, y: y2 }, ''],
    ];
    for (const [data, want] of cases) {
      if (want === '') expect(() => cfg(data)).not.toThrow();
      else expect(message(data)).toContain(want);
    }
    expect(message({ X: 'X.npy', y }, {})).toBe(
      'data.X: "X.npy" is a file path, but this config was parsed without a file reader (give the array inline, or pass parseConfig(raw, { readFile, baseDir }) as the command line does)',
    );
  });

  it('the command line reads paths relative to the config file, and sweeps relative to the base config', () => {
    const data = { X: 'X.npy', y: 'y.npy', Xtest: 'Xtest.npy', ytest: 'ytest.npy' };
    const configFile = writeIn(dir, 'files.json', { ...rest, data });
    const out = join(dir, 'out.json');
    const r = runCli(['lazy', configFile, '--out', out], { cwd: tmpdir() });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(readFileSync(out, 'utf8'));
    expect(got.trainLoss).toEqual(lazy(inline).trainLoss);
    expect(got.testLoss).toEqual(lazy(inline).testLoss);
    const miss = runCli(['lazy', writeIn(dir, 'missing.json', { ...rest, data: { ...data, X: 'nope.csv' } })]);
    expect(miss.status).toBe(2);
    expect(miss.stderr).toBe(`dmft: data.X: cannot read ${dir}/nope.csv (no such file)\n`);

    // a sweep with an inline base reads relative to the sweep file; one with a base path, relative to the base
    const sweepDir = mkdtempSync(join(dir, 'sweep-'));
    const inlineFile = writeIn(sweepDir, 'inline.json', {
      base: { ...rest, data: { X: '../X.npy', y: '../y.npy' } },
      run: { kind: 'lazy' },
      grid: { 'model.gamma0': [0.5, 1] },
    });
    const byPathFile = writeIn(sweepDir, 'by-path.json', {
      base: '../files.json',
      run: { kind: 'lazy' },
      grid: { 'data.y': ['y.npy', 'y.csv'] },
    });
    const inlineSweep = readSweep(inlineFile);
    expect(expandPoints(inlineSweep).map((p) => p.config.data)).toEqual([0, 1].map(() => ({ X, y })));
    const byPath = expandPoints(readSweep(byPathFile));
    expect(byPath.map((p) => p.config.data)).toEqual([inline.data, inline.data]);
    // where the sweep was read from is no part of its identity
    expect(sweepId({ ...inlineSweep, dataDir: '/elsewhere' })).toBe(sweepId(inlineSweep));
    const bad = writeIn(sweepDir, 'bad.json', { base: '../files.json', run: { kind: 'lazy' }, grid: { 'data.y': ['y.npy', 'nope.npy'] } });
    expect(() => expandPoints(readSweep(bad))).toThrow(
      `grid.data.y: cannot read ${dir}/nope.npy (no such file) (point {"data.y":"nope.npy"})`,
    );
  });
});
