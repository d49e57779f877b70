import type { Config, Data } from './config.js';

/**
 * What a result says produced it (docs/INTERFACE.md, "Results": `config`): the config as run, defaults filled
 * in, so that it can be run again. Data named by a generator, a dataset or files keep that spec, plus `hash`, a
 * fingerprint of the arrays it gave; inline arrays are kept when small, else replaced by their sizes and `hash`.
 */
export function configRecord(raw: unknown, cfg: Config): Record<string, unknown> {
  const rawData = (raw as { data?: unknown } | null)?.data;
  const { kind: _kind, ...train } = cfg.train;
  return { data: dataRecord(rawData, cfg.data), model: cfg.model, train, solver: cfg.solver, output: cfg.output };
}

/** Inline arrays with more numbers than this are recorded by their hash. */
const INLINE_NUMBERS = 10_000;

function dataRecord(rawData: unknown, data: Data): unknown {
  const hash = dataHash(data);
  const sizes = { P: data.X.length, D: data.X[0].length, Ptest: data.Xtest?.length ?? 0 };
  if (rawData === null || typeof rawData !== 'object') return { ...sizes, hash };
  const r = rawData as Record<string, unknown>;
  const named = 'synthetic' in r || 'dataset' in r || Object.values(r).some((v) => typeof v === 'string');
  if (named) return { ...r, hash };
  const numbers = sizes.P * (sizes.D + 1) + sizes.Ptest * (sizes.D + 1);
  return numbers <= INLINE_NUMBERS ? data : { ...sizes, hash };
}

/**
 * A 53-bit fingerprint (cyrb53) of the data's numbers as float64 bytes, X, y, Xtest, ytest in order, as 14 hex
 * digits: equal data give equal hashes on every platform; not a cryptographic hash.
 */
export function dataHash(data: Data): string {
  let h1 = 0xdeadbeef,
    h2 = 0x41c6ce57;
  const mix = (arr: readonly number[]) => {
    const words = new Uint32Array(Float64Array.from(arr).buffer);
    for (let i = 0; i < words.length; i++) {
      h1 = Math.imul(h1 ^ words[i], 2654435761);
      h2 = Math.imul(h2 ^ words[i], 1597334677);
    }
    // a separator, so that [a, b] + [] and [a] + [b] differ
    h1 = Math.imul(h1 ^ arr.length, 2246822507);
    h2 = Math.imul(h2 ^ arr.length, 3266489909);
  };
  mix(data.X.flat());
  mix(data.y);
  mix(data.Xtest?.flat() ?? []);
  mix(data.ytest ?? []);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, '0');
}
