import { createHash } from 'node:crypto';
import { parseConfig, parseWith, type Config } from '../../core/config.js';
import { configRecord } from '../../core/provenance.js';
import { InputError } from '../../core/errors.js';
import { dataFileOptions } from '../io.js';
import { KIND_NAMES, KINDS, type Kind, type RunOptions } from '../../../workers/kinds.js';
import { grids, isRunKey, runOption, type Grid, type Sweep } from './schema.js';

/** One point of a sweep: its grid values, the stable key naming it, and what it runs. */
export interface Point {
  /** position in the sweep (grids in order, each a product with the first axis slowest) */
  index: number;
  /** axis -> value, in axis order */
  params: Record<string, unknown>;
  /** canonical JSON of params: identifies the point across runs, shards and merges */
  key: string;
  kind: Kind;
  options: RunOptions;
  config: Config;
  /** what the point's result records as its `config` (src/core/provenance.ts) */
  record: Record<string, unknown>;
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Identity of a sweep: a directory of results belongs to exactly one (where it was read from is no part of it). */
export function sweepId(sweep: Sweep): string {
  const { base, run, grid } = sweep;
  return createHash('sha256').update(canonical({ base, run, grid })).digest('hex').slice(0, 16);
}

/** All combinations of one grid's axes, first axis slowest. */
function product(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  return Object.entries(grid).reduce<Record<string, unknown>[]>(
    (acc, [axis, values]) => acc.flatMap((p) => values.map((v) => ({ ...p, [axis]: v }))),
    [{}],
  );
}

/** `obj` with the value at a dotted path replaced (objects on the way are copied, never shared). */
function setPath(obj: unknown, path: string[], value: unknown, field: string): unknown {
  if (path.length === 0) return value;
  if (obj === undefined) obj = {};
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw new InputError(field, 'the base config has no object at this path');
  const [head, ...rest] = path;
  return { ...obj, [head]: setPath((obj as Record<string, unknown>)[head], rest, value, field) };
}

/** Expand and validate every point before anything runs: a bad value is refused by its grid field. */
export function expandPoints(sweep: Sweep): Point[] {
  const points: Point[] = [];
  const seen = new Map<string, number>();
  for (const [gridField, grid] of grids(sweep.grid)) {
    for (const params of product(grid as Grid)) {
      const index = points.length;
      const key = canonical(params);
      if (seen.has(key)) throw new InputError(gridField, `repeats point ${seen.get(key)} (${key})`);
      seen.set(key, index);
      let raw = sweep.base;
      const options: RunOptions & { kind?: Kind } = { ...sweep.run };
      for (const [axis, value] of Object.entries(params)) {
        const field = `${gridField}.${axis}`;
        if (isRunKey(axis)) Object.assign(options, { [axis]: parseWith(runOption[axis], value, [field]) });
        else raw = setPath(raw, axis.split('.'), value, field);
      }
      const { kind, ...rest } = options;
      if (!kind) throw new InputError('run.kind', `required (one of ${KIND_NAMES.join(', ')}), or a grid axis "kind"`);
      for (const need of KINDS[kind].needs)
        if (rest[need] === undefined) throw new InputError(`run.${need}`, `required for ${kind} points (in run or as a grid axis)`);
      const config = configOf(raw, params, gridField, sweep.dataDir);
      points.push({ index, params, key, kind, options: rest, config, record: configRecord(raw, config) });
    }
  }
  return points;
}

/** The point's config; a refusal names the grid axis that caused it, or else the base config. */
function configOf(raw: unknown, params: Record<string, unknown>, gridField: string, dataDir = '.'): Config {
  try {
    return parseConfig(raw, dataFileOptions(dataDir));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const axis = Object.keys(params).find(
      (a) => e.field === a || e.field.startsWith(`${a}.`) || e.field.startsWith(`${a}[`) || a.startsWith(`${e.field}.`),
    );
    if (axis) throw new InputError(`${gridField}.${e.field}`, `${e.reason} (point ${canonical(params)})`);
    throw new InputError(`base.${e.field}`, e.reason);
  }
}
