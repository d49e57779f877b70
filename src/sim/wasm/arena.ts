import { InputError } from '../../core/errors.js';
import { KERNELS_WASM } from './bytes.js';

/**
 * WebAssembly SIMD (f64x2) kernels and the memory they work on. A network allocates its big arrays in
 * an Arena (one WebAssembly memory with its own instance of kernels.wat); matrix.ts runs a kernel in
 * WebAssembly when all its arrays are views of one arena, and its scalar JS loop otherwise.
 */
export type KernelPath = 'simd' | 'scalar';

/** The exports of kernels.wat: pointers are byte offsets into the arena's memory. */
export interface SimdKernels {
  crossDots(A: number, R: number, X: number, n: number, N: number, C: number): void;
  addTransposedProduct(A: number, R: number, C: number, n: number, N: number, out: number): void;
  addLowRank(M: number, rows: number, cols: number, U: number, V: number, R: number): void;
}

// (module (func (result v128) (v128.const i64x2 0 0)))
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 11,
]);

/** Whether this runtime has WebAssembly with fixed-width SIMD. */
export const simdSupported = typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);

const ENV = 'DMFT_SIM_KERNELS';

/**
 * The path to use: `requested`, else the environment variable DMFT_SIM_KERNELS (simd or scalar), else
 * simd where supported. Asking for simd where it is not supported is an error.
 */
export function kernelPath(requested?: KernelPath): KernelPath {
  // process exists only in Node: in a browser the environment variable is simply absent
  const want = requested ?? (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[ENV];
  if (want === undefined || want === '') return simdSupported ? 'simd' : 'scalar';
  if (want !== 'simd' && want !== 'scalar') throw new InputError(ENV, `expected simd or scalar, got ${JSON.stringify(want)}`);
  if (want === 'simd' && !simdSupported) throw new InputError(ENV, 'this runtime has no WebAssembly SIMD; use scalar');
  return want;
}

let compiled: WebAssembly.Module | undefined;
/** kernels of each arena, by its memory's buffer */
const byBuffer = new WeakMap<ArrayBufferLike, SimdKernels>();

const PAGE = 65536;

/** Float64Arrays in one WebAssembly memory of fixed size, bump-allocated at 16-byte boundaries. */
export class Arena {
  private readonly buffer: ArrayBuffer;
  private used = 0;

  /** Room for arrays of the given lengths. */
  constructor(lengths: readonly number[]) {
    // atob, not Node's Buffer: the simulator also runs in browsers (Web Workers)
    compiled ??= new WebAssembly.Module(Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0)));
    const bytes = lengths.reduce((a, n) => a + padded(n), 0);
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
    const kernels = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as SimdKernels;
    // the memory never grows, so its buffer (and every view of it) stays valid
    this.buffer = memory.buffer;
    byBuffer.set(this.buffer, kernels);
  }

  /** n zeros in the arena; a RangeError if there is no room left. */
  alloc(n: number): Float64Array {
    if (this.used + padded(n) > this.buffer.byteLength)
      throw new RangeError(`arena full: ${n} doubles do not fit in ${this.buffer.byteLength - this.used} bytes left`);
    const a = new Float64Array(this.buffer, this.used, n);
    this.used += padded(n);
    return a;
  }
}

/** bytes of n doubles rounded up to 16 */
const padded = (n: number) => Math.ceil(n / 2) * 16;

// the last buffer looked up: all calls of one network hit it (it keeps at most one arena alive after
// its network is gone, until the next lookup)
let lastBuffer: ArrayBufferLike | undefined;
let lastKernels: SimdKernels | undefined;

/** The kernels of the arena holding all the given arrays, if there is one. */
export function simdFor(a: Float64Array, b: Float64Array, c: Float64Array, d: Float64Array = a): SimdKernels | undefined {
  const buf = a.buffer;
  if (b.buffer !== buf || c.buffer !== buf || d.buffer !== buf) return undefined;
  if (buf !== lastBuffer) {
    lastBuffer = buf;
    lastKernels = byBuffer.get(buf);
  }
  return lastKernels;
}
