import * as z from 'zod';
import { InputError } from './errors.js';
import { dataHash } from './provenance.js';
import { synthesize, SYNTHETIC_KINDS } from './synthetic.js';
import { readArray, type FileOptions, type Shape } from './data-files.js';
import { DATASET_NAMES, loadDataset, type LoadClass } from './datasets.js';

/** The config of docs/INTERFACE.md, validated, with `data` resolved to arrays. */

export const ACTIVATIONS = ['linear', 'relu', 'tanh', 'erf', 'softplus', 'gelu'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

export const METHODS = ['auto', 'two-layer', 'deep-linear', 'monte-carlo', 'static-ntk', 'gradient-independent', 'perturbative'] as const;
export type Method = (typeof METHODS)[number];

export interface Data {
  X: number[][];
  y: number[];
  Xtest?: number[][];
  ytest?: number[];
}

export interface Model {
  depth: number;
  activation: ActivationName;
  gamma0: number;
  /** 'mup' (mean field, default) or 'ntk' (gamma0 = gamma0_ntk / sqrt(N) at width N). */
  parameterization: 'mup' | 'ntk';
}

/** Gradient flow to time T, or K steps of gradient descent with rate lr (time t = k lr). */
export type Train = { kind: 'flow'; T: number; record: number } | { kind: 'gd'; steps: number; lr: number; record: number };

export interface Solver {
  method: Method;
  seed: number;
  samples?: number;
  dt?: number;
  tol?: number;
  /** Gauss-Hermite order per axis for activations without closed forms. */
  quadrature?: number;
  [option: string]: unknown;
}

export interface Output {
  predictions: boolean;
  kernels: boolean;
  alignment: boolean;
  histograms: boolean;
}

export interface Config {
  data: Data;
  model: Model;
  train: Train;
  solver: Solver;
  output: Output;
}

const finite = z.number();
const matrix = z.array(z.array(finite));
const posInt = z.number().int().positive();

const arrayData = z.strictObject({
  X: matrix.min(1),
  y: z.array(finite),
  Xtest: matrix.optional(),
  ytest: z.array(finite).optional(),
});

const syntheticData = z.strictObject({
  synthetic: z.strictObject({
    kind: z.enum(SYNTHETIC_KINDS),
    P: posInt,
    D: posInt,
    Ptest: z.number().int().min(0).default(0),
    noise: z.number().min(0).default(0),
    seed: z.number().int().default(0),
  }),
});

const datasetData = z.strictObject({
  dataset: z.strictObject({
    name: z.enum(DATASET_NAMES),
    classes: z.array(z.number().int().min(0).max(9)),
    P: posInt,
    Ptest: z.number().int().min(0).default(0),
    seed: z.number().int().default(0),
    center: z.boolean().default(false),
    D: posInt.optional(),
  }),
});

/** How parseConfig reaches what a config names outside itself: data files and data sets. */
export interface ConfigOptions extends FileOptions {
  /** The images of a `data.dataset` class; by default MNIST is read from the mnist package (Node only). */
  loadClass?: LoadClass;
}

const DATA_FILES: [keyof Data, Shape][] = [
  ['X', 'matrix'],
  ['y', 'vector'],
  ['Xtest', 'matrix'],
  ['ytest', 'vector'],
];

/** `data` with the fields given as file paths replaced by the arrays read from them. */
function withFiles(raw: object, options: ConfigOptions): object {
  const r = raw as Record<string, unknown>;
  if (!DATA_FILES.some(([k]) => typeof r[k] === 'string')) return raw;
  const out = { ...r };
  for (const [k, shape] of DATA_FILES) if (typeof r[k] === 'string') out[k] = readArray(`data.${k}`, r[k] as string, shape, options);
  return out;
}

const model = z.strictObject({
  depth: posInt,
  activation: z.enum(ACTIVATIONS),
  gamma0: z.number().min(0),
  parameterization: z.enum(['mup', 'ntk']).default('mup'),
});

// `kind` is what parseConfig adds; accepting it makes parsing a parsed config a no-op
const flow = z.strictObject({ kind: z.literal('flow').optional(), T: z.number().positive(), record: z.number().int().min(2).default(41) });
const gd = z.strictObject({
  kind: z.literal('gd').optional(),
  steps: posInt,
  lr: z.number().positive(),
  record: z.number().int().min(2).default(41),
});

const solver = z
  .looseObject({
    method: z.enum(METHODS).default('auto'),
    seed: z.number().int().default(0),
    samples: posInt.optional(),
    dt: z.number().positive().optional(),
    tol: z.number().positive().optional(),
    quadrature: z.number().int().min(2).max(180).optional(),
  })
  .default({ method: 'auto', seed: 0 });

const output = z
  .strictObject({
    predictions: z.boolean().default(false),
    kernels: z.boolean().default(false),
    alignment: z.boolean().default(false),
    histograms: z.boolean().default(false),
  })
  .default({ predictions: false, kernels: false, alignment: false, histograms: false });

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function fieldPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/** One user-facing line for the first zod issue. */
function issueToError(prefix: readonly PropertyKey[], issue: z.core.$ZodIssue): InputError {
  const path = [...prefix, ...issue.path];
  const i = issue as z.core.$ZodIssue & { input?: unknown; received?: string };
  switch (issue.code) {
    case 'invalid_type': {
      if (i.received === 'Infinity' || i.received === 'NaN' || (typeof i.input === 'number' && !Number.isFinite(i.input)))
        return new InputError(fieldPath(path), `expected a finite number, got ${i.received ?? i.input}`);
      if (i.input === undefined) return new InputError(fieldPath(path), 'required');
      const want = issue.expected === 'int' ? 'an integer' : issue.expected;
      return new InputError(fieldPath(path), `expected ${want}, got ${describe(i.input)}`);
    }
    case 'invalid_value':
      return new InputError(fieldPath(path), `expected one of ${issue.values.join(', ')}; got ${describe(i.input)}`);
    case 'too_small': {
      if (issue.origin === 'array')
        return new InputError(fieldPath(path), `needs at least ${issue.minimum} ${Number(issue.minimum) === 1 ? 'entry' : 'entries'}`);
      return new InputError(fieldPath(path), `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}, got ${describe(i.input)}`);
    }
    case 'too_big':
      return new InputError(fieldPath(path), `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}, got ${describe(i.input)}`);
    case 'unrecognized_keys':
      return new InputError(fieldPath([...path, issue.keys[0]]), 'unknown field');
    default:
      return new InputError(fieldPath(path) || 'config', issue.message);
  }
}

/** Parse `value` with `schema`, turning the first issue into an InputError under `prefix`. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, prefix: readonly PropertyKey[]): z.output<T> {
  const r = schema.safeParse(value, { reportInput: true });
  if (!r.success) throw issueToError(prefix, r.error.issues[0]);
  return r.data;
}

function checkRows(X: number[][], field: string, D?: number): number {
  const d = D ?? X[0]?.length ?? 0;
  if (d === 0) throw new InputError(`${field}[0]`, 'expected at least one input dimension');
  X.forEach((row, i) => {
    if (row.length !== d) throw new InputError(`${field}[${i}]`, `expected ${d} values (the input dimension D), got ${row.length}`);
  });
  return d;
}

/**
 * `data` as arrays. A `hash` beside the spec (as a result's `config` records it, src/core/provenance.ts) must
 * match the arrays the spec gives now: a re-run on changed files or another generator version is refused.
 */
function resolveData(raw: unknown, options: ConfigOptions): Data {
  if (raw !== null && typeof raw === 'object' && 'hash' in raw) {
    const { hash, ...spec } = raw as { hash: unknown };
    const data = resolveData(spec, options);
    if (hash !== dataHash(data))
      throw new InputError(
        'data.hash',
        `the data given now hash to ${dataHash(data)}, not ${JSON.stringify(hash)} (the data this config was recorded with)`,
      );
    return data;
  }
  if (raw === undefined) throw new InputError('data', 'required');
  const isObject = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  if (isObject && 'synthetic' in raw) {
    const { synthetic } = parseWith(syntheticData, raw, ['data']);
    return synthesize(synthetic);
  }
  if (isObject && 'dataset' in raw) {
    const { dataset } = parseWith(datasetData, raw, ['data']);
    return loadDataset(dataset, options.loadClass);
  }
  const d = parseWith(arrayData, isObject ? withFiles(raw, options) : raw, ['data']);
  const D = checkRows(d.X, 'data.X');
  if (d.y.length !== d.X.length) throw new InputError('data.y', `expected ${d.X.length} values (one per row of data.X), got ${d.y.length}`);
  if ((d.Xtest === undefined) !== (d.ytest === undefined))
    throw new InputError(d.Xtest ? 'data.ytest' : 'data.Xtest', 'data.Xtest and data.ytest go together');
  if (d.Xtest && d.ytest) {
    if (d.Xtest.length === 0) throw new InputError('data.Xtest', 'needs at least 1 entry');
    checkRows(d.Xtest, 'data.Xtest', D);
    if (d.ytest.length !== d.Xtest.length)
      throw new InputError('data.ytest', `expected ${d.Xtest.length} values (one per row of data.Xtest), got ${d.ytest.length}`);
  }
  return d;
}

export const CONFIG_SECTIONS = ['data', 'model', 'train', 'solver', 'output'] as const;

/**
 * Validate a parsed JSON value as a config. Throws InputError naming the first bad field. Data given as file
 * paths are read with options.readFile, relative to options.baseDir (the config file's directory).
 */
export function parseConfig(raw: unknown, options: ConfigOptions = {}): Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new InputError('config', `expected a JSON object, got ${describe(raw)}`);
  const r = raw as Record<string, unknown>;
  // a misspelt section ("modle", "sovler") would otherwise run silently with defaults
  const unknown = Object.keys(r).find((k) => !(CONFIG_SECTIONS as readonly string[]).includes(k));
  if (unknown !== undefined) throw new InputError(unknown, `unknown field (a config has ${CONFIG_SECTIONS.join(', ')})`);
  const data = resolveData(r.data, options);
  const m = parseWith(model, r.model, ['model']);
  if (r.train === undefined) throw new InputError('train', 'required');
  const isGd = r.train !== null && typeof r.train === 'object' && 'steps' in r.train;
  const train: Train = isGd
    ? { ...parseWith(gd, r.train, ['train']), kind: 'gd' }
    : { ...parseWith(flow, r.train, ['train']), kind: 'flow' };
  if (train.kind === 'gd' && train.record > train.steps + 1)
    throw new InputError('train.record', `at most train.steps + 1 = ${train.steps + 1} with gradient descent, got ${train.record}`);
  const s = parseWith(solver, r.solver, ['solver']) as Solver;
  const o = parseWith(output, r.output, ['output']);
  const cfg = { data, model: m, train, solver: s, output: o };
  checkResultSize(cfg);
  return cfg;
}

/** Characters of JSON a result may hold: well under V8's largest string (2^29 characters), which JSON.stringify needs. */
const MAX_RESULT_CHARS = 2 ** 28;

/** Refuse, before anything runs, opt-in outputs whose JSON would be too long to write (about 20 characters a number). */
function checkResultSize(cfg: Config): void {
  const n = cfg.data.X.length + (cfg.data.Xtest?.length ?? 0),
    L = cfg.model.depth,
    records = cfg.train.record;
  const numbers = (cfg.output.kernels ? records * (2 * L + 1) * n * n : 0) + (cfg.output.predictions ? records * n : 0);
  if (20 * numbers > MAX_RESULT_CHARS)
    throw new InputError(
      cfg.output.kernels ? 'output.kernels' : 'output.predictions',
      `${numbers.toExponential(2)} numbers (train.record x (2 depth + 1) x points^2 for the kernels) would make a result of about ${((20 * numbers) / 2 ** 30).toFixed(1)} GB of JSON, more than the ${MAX_RESULT_CHARS / 2 ** 20} MB that can be written; lower train.record or the number of points`,
    );
}

/** Refuse an opt-in output (config.output) that `producer` does not produce, naming the field. */
export function refuseOutputs(output: Output, producer: string, produced: readonly (keyof Output)[], why = ''): void {
  const missing = (Object.keys(output) as (keyof Output)[]).find((key) => output[key] && !produced.includes(key));
  if (missing !== undefined)
    throw new InputError(
      `output.${missing}`,
      `not produced by ${producer}${why ? ` (${why})` : ''}; it produces ${produced.map((k) => `output.${k}`).join(', ') || 'none'}`,
    );
}

/** Parse JSON text (as read from a file named `source`) into a config. */
export function parseConfigText(text: string, source = 'config', options: ConfigOptions = {}): Config {
  return parseConfig(parseJson(text, source), options);
}

/** JSON text read from `source` (a file name or field), or an InputError naming it. */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(source, `invalid JSON (${(e as Error).message})`);
  }
}

/** The times 0..T (flow) or step indices (gd) at which results are recorded; t = step * lr for gd. */
export function recordTimes(train: Train): { t: number[]; steps?: number[] } {
  const n = train.record;
  if (train.kind === 'flow') return { t: Array.from({ length: n }, (_, i) => (train.T * i) / (n - 1)) };
  const steps = Array.from({ length: n }, (_, i) => Math.round((train.steps * i) / (n - 1)));
  return { t: steps.map((k) => k * train.lr), steps };
}
