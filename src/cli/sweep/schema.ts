import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { parseJson, parseWith } from '../../core/config.js';
import { InputError } from '../../core/errors.js';
import { KIND_NAMES, type Kind, type RunOptions } from '../../../workers/kinds.js';
import { readText } from '../io.js';

/**
 * A sweep file (SWEEP.json):
 *   base   a config (docs/INTERFACE.md), inline or the path of a config file relative to the sweep file
 *   run    what every point runs: kind (lazy | simulate | ...), and width, seeds, integrator, dt, tol
 *   grid   axes: a dotted config path ("model.gamma0") or a run option ("kind", "width", "seeds") mapped
 *          to its values; the points are the product of the axes, first axis slowest. A list of grids is
 *          the union of their products, in order.
 */
export type Grid = Record<string, unknown[]>;

export interface Sweep {
  base: unknown;
  run: RunOptions & { kind?: Kind };
  grid: Grid | Grid[];
  /** directory that data file paths in the base resolve against: the base config file's, or the sweep file's */
  dataDir?: string;
}

/** The grids of a sweep, each with the field naming it in messages. */
export function grids(grid: unknown): [string, unknown][] {
  return Array.isArray(grid) ? grid.map((g, i) => [`grid[${i}]`, g]) : [['grid', grid]];
}

const posInt = z.number().int().positive();

export const runOption = {
  kind: z.enum(KIND_NAMES),
  width: posInt,
  seeds: posInt,
  integrator: z.enum(['ck', 'rk4']),
  dt: z.number().positive(),
  tol: z.number().positive(),
};

export type RunKey = keyof typeof runOption;

export const isRunKey = (axis: string): axis is RunKey => Object.hasOwn(runOption, axis);

const run = z.strictObject(
  Object.fromEntries(Object.entries(runOption).map(([k, s]) => [k, s.optional()])) as {
    [K in RunKey]: z.ZodOptional<(typeof runOption)[K]>;
  },
);

const grid = z.record(z.string(), z.array(z.unknown()).min(1));
const AXIS = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

const sweep = z.strictObject({
  base: z.unknown(),
  run: run.default({}),
  grid: z.unknown(),
});

/** Parse a sweep file; the base config is read relative to it. Throws InputError naming the field. */
export function readSweep(file: string): Sweep {
  const raw = parseJson(readText(file), file);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(file, 'expected a JSON object');
  const s = parseWith(sweep, raw, []);
  if (typeof s.base !== 'string' && (s.base === null || typeof s.base !== 'object' || Array.isArray(s.base)))
    throw new InputError('base', 'required: a config object, or the path of a config file');
  const baseFile = typeof s.base === 'string' ? resolve(dirname(file), s.base) : undefined;
  const base = baseFile ? parseJson(readText(baseFile, 'base'), 'base') : s.base;
  if (s.grid === undefined) throw new InputError('grid', 'required');
  if (Array.isArray(s.grid) && s.grid.length === 0) throw new InputError('grid', 'needs at least 1 entry');
  for (const [field, g] of grids(s.grid)) {
    const bad = Object.keys(parseWith(grid, g, [field])).find((axis) => !AXIS.test(axis));
    if (bad !== undefined) throw new InputError(`${field}.${bad}`, 'expected a run option or a dotted config path such as model.gamma0');
  }
  return { base, run: s.run, grid: s.grid as Grid | Grid[], dataDir: dirname(baseFile ?? resolve(file)) };
}
