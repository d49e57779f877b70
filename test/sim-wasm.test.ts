import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { initialParams, Network, paramViews } from '../src/sim/network.js';
import { RK4, LowRankStepper } from '../src/sim/stepper.js';
import { Arena, kernelPath, simdFor, simdSupported } from '../src/sim/wasm/arena.js';
import { parsedConfig } from './helpers.js';

/** scripts/build-wasm.mjs needs the wabt package (a devDependency); without it the check is skipped. */
const wabtInstalled = await import('wabt').then(
  () => true,
  () => false,
);

describe('WebAssembly kernels (src/sim/wasm)', () => {
  it.skipIf(!wabtInstalled)(
    `bytes.ts is what scripts/build-wasm.mjs makes of kernels.wat${wabtInstalled ? '' : ' (skipped: wabt not installed)'}`,
    async () => {
      // @ts-expect-error: a plain ESM script, no type declarations
      const { generate } = (await import('../scripts/build-wasm.mjs')) as { generate: () => Promise<string> };
      expect(readFileSync(new URL('../src/sim/wasm/bytes.ts', import.meta.url), 'utf8')).toBe(await generate());
    },
  );

  it('Node 20 has WebAssembly SIMD', () => {
    expect(simdSupported).toBe(true);
  });

  describe('path selection', () => {
    const saved = process.env.DMFT_SIM_KERNELS;
    afterEach(() => {
      if (saved === undefined) delete process.env.DMFT_SIM_KERNELS;
      else process.env.DMFT_SIM_KERNELS = saved;
    });

    it('option, then DMFT_SIM_KERNELS, then simd where supported', () => {
      delete process.env.DMFT_SIM_KERNELS;
      expect(kernelPath()).toBe('simd');
      process.env.DMFT_SIM_KERNELS = 'scalar';
      expect(kernelPath()).toBe('scalar');
      expect(kernelPath('simd')).toBe('simd');
      process.env.DMFT_SIM_KERNELS = 'avx';
      expect(() => kernelPath()).toThrow(/DMFT_SIM_KERNELS: expected simd or scalar/);
    });
  });

  it('an arena allocates aligned zeroed views of one memory and throws when full', () => {
    const arena = new Arena([3, 5, 1000]);
    const a = arena.alloc(3),
      b = arena.alloc(5);
    expect(a.byteOffset % 16).toBe(0);
    expect(b.byteOffset % 16).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 24);
    expect(Array.from(b)).toEqual([0, 0, 0, 0, 0]);
    expect(simdFor(a, b, b)).toBeDefined();
    // one page of 64 KiB: 8192 doubles in all
    expect(() => arena.alloc(8192)).toThrow(RangeError);
    expect(arena.alloc(8000).length).toBe(8000);
    // arrays of another arena or of the JS heap are not mixed with this one's
    expect(simdFor(a, new Arena([2]).alloc(2), b)).toBeUndefined();
    expect(simdFor(a, b, new Float64Array(2))).toBeUndefined();
  });

  describe('simd and scalar networks take the same RK4 steps to rounding', () => {
    const cfg = parsedConfig(
      { P: 7, Ptest: 4, D: 5, seed: 2 },
      { model: { depth: 3, activation: 'tanh', gamma0: 0.8 }, train: { T: 1, record: 2 } },
    );
    // odd width: every kernel's scalar column and odd row pairing; 3 layers: both backward products
    const N = 37;

    function run(kernels: 'simd' | 'scalar') {
      const net = new Network(cfg, N, kernels);
      const theta = initialParams(net.shape, 0, 1, net.alloc);
      const p = paramViews(theta, net.shape);
      net.evaluate(p, net.n, net.n);
      net.f0.set(net.f);
      const stepper = new LowRankStepper(net, theta, RK4);
      for (let s = 0; s < 5; s++) {
        stepper.firstStage(net.P, net.P);
        stepper.finish(0.2);
      }
      net.evaluate(p, net.n, net.n);
      return { net, theta, p };
    }

    it('weights, outputs and backward fields', () => {
      // the arena has room for the network's buffers, the weights and the stepper's factors, else alloc throws
      const simd = run('simd'),
        scalar = run('scalar');
      expect(simd.net.kernels).toBe('simd');
      expect(simdFor(simd.theta, simd.net.phi[0], simd.net.g[2])).toBeDefined();
      expect(simdFor(scalar.theta, scalar.net.phi[0], scalar.net.g[2])).toBeUndefined();
      const close = (a: Float64Array, b: Float64Array) => {
        const scale = Math.max(...Array.from(b, Math.abs));
        expect(scale).toBeGreaterThan(1e-3);
        for (let k = 0; k < a.length; k++) expect(Math.abs(a[k] - b[k])).toBeLessThan(1e-12 * scale);
      };
      // and moved the weights: the steps are not trivial
      const theta0 = initialParams(simd.net.shape, 0, 1);
      expect(Math.max(...simd.theta.map((t, k) => Math.abs(t - theta0[k])))).toBeGreaterThan(1e-3);
      close(simd.theta, scalar.theta);
      close(simd.net.f, scalar.net.f);
      for (let l = 0; l < 3; l++) close(simd.net.g[l], scalar.net.g[l]);
    });
  });
});
