import type { TopLevelSpec } from 'vega-lite';
import { InputError } from '../core/errors.js';
import {
  asResult,
  BASE_CONFIG,
  curveRows,
  finite,
  fmt,
  isSimulation,
  semOf,
  sourceDash,
  SOURCES,
  type Json,
  type ResultLike,
  type Row,
} from './common.js';

/** A line of a sweep's results.jsonl (src/cli/sweep/store.ts): the fields the sweep plots read. */
export interface SweepRecord {
  index: number;
  key: string;
  kind: string;
  params: Record<string, unknown>;
  seconds?: number;
  result?: unknown;
  error?: string;
}

export interface SweepPlotOptions {
  /** params key on the x axis (default: the first axis with more than one numeric value) */
  x?: string;
  /** params key coloring the lines (default: every other axis that varies) */
  color?: string;
  /** every point's loss curves against t instead of final losses against x */
  curves?: boolean;
  log?: boolean;
  /** log x axis (widths, numbers of points) */
  logX?: boolean;
  title?: string;
}

interface Point {
  record: SweepRecord;
  result: ResultLike;
  params: Record<string, unknown>;
}

const text = (v: unknown) => (typeof v === 'number' ? fmt(v) : typeof v === 'string' ? v : JSON.stringify(v));
const last = (xs?: unknown[]) => (xs && xs.length ? xs[xs.length - 1] : undefined);

/**
 * Final train / test losses of a sweep's points against the axis `x`, a line per value of the other axes
 * (error bars from the SEMs; points without an `x` value, such as the DMFT point of a width sweep, as
 * horizontal dashed rules); or with `curves` every point's loss curves. `records`: the last record per point.
 */
export function sweepSpec(records: readonly SweepRecord[], o: SweepPlotOptions = {}): TopLevelSpec {
  const finished = records.filter((r) => r.result !== undefined && r.result !== null && !r.error).sort((a, b) => a.index - b.index);
  const failed = records.length - finished.length;
  if (finished.length === 0)
    throw new InputError(
      'results.jsonl',
      `no finished points to plot (${records.length} record${records.length === 1 ? '' : 's'}, ${failed} failed)`,
    );
  const points: Point[] = finished.map((record) => ({
    record,
    result: asResult(record.result, `results.jsonl: point ${record.index} (${record.key})`),
    params: { kind: record.kind, ...record.params },
  }));
  const axes = [...new Set(points.flatMap((p) => Object.keys(p.params)))];
  const values = (a: string) => new Set(points.map((p) => JSON.stringify(p.params[a] ?? null)));
  const varying = axes.filter((a) => values(a).size > 1);
  const check = (flag: string, a: string) => {
    if (!axes.includes(a)) throw new InputError(flag, `${JSON.stringify(a)} is not an axis of the sweep (axes: ${axes.join(', ')})`);
  };
  if (o.x !== undefined) check('--x', o.x);
  if (o.color !== undefined) check('--color', o.color);
  const numeric = (a: string) => points.every((p) => p.params[a] === undefined || typeof p.params[a] === 'number');
  let x = o.x;
  if (!o.curves && x === undefined) {
    x = varying.find(numeric) ?? varying[0];
    if (x === undefined)
      throw new InputError('--x', `no axis of the sweep takes more than one value (axes: ${axes.join(', ')}); try --curves`);
  }
  const colorAxes = o.color !== undefined ? [o.color] : varying.filter((a) => a !== x);
  const restAxes = varying.filter((a) => a !== x && !colorAxes.includes(a));
  const groupOf = (p: Pick<Point, 'params'>, by: string[]) =>
    by
      .filter((a) => p.params[a] !== undefined)
      .map((a) => `${a}=${text(p.params[a])}`)
      .join(', ') || 'all points';
  // legend order from every record by index (the grid's order), failed points included, so it stays put when one fails
  const all = [...records].sort((a, b) => a.index - b.index).map((record) => ({ params: { kind: record.kind, ...record.params } }));
  const present = new Set(points.map((p) => groupOf(p, colorAxes)));
  const groups = [...new Set(all.map((p) => groupOf(p, colorAxes)))].filter((g) => present.has(g));
  // one numeric color axis: its values in order, on a sequential scale
  const sequential = colorAxes.length === 1 && numeric(colorAxes[0]) && groups.length > 2;
  if (sequential) {
    const a = colorAxes[0];
    const order = new Map(points.map((p) => [groupOf(p, colorAxes), (p.params[a] as number | undefined) ?? -Infinity]));
    groups.sort((g, h) => order.get(g)! - order.get(h)!);
  }
  const color = {
    field: 'group',
    type: sequential ? 'ordinal' : 'nominal',
    sort: groups,
    scale: sequential ? { domain: groups, scheme: { name: 'viridis', extent: [0, 0.85] } } : { domain: groups },
    legend: groups.length > 1 ? { title: null, symbolOpacity: 1 } : null,
  };
  const log = !!o.log;
  const y = { scale: log ? { type: 'log' } : { zero: true }, axis: log ? { format: '~g' } : {} };
  const subtitle = `${points.length} point${points.length === 1 ? '' : 's'}${failed ? `; ${failed} failed, not shown` : ''}`;
  const head = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: BASE_CONFIG };

  if (o.curves) {
    const curves = points.flatMap((p) => {
      const extra = { group: groupOf(p, colorAxes), point: p.record.key };
      const source = isSimulation(p.result) ? ('simulation' as const) : ('theory' as const);
      const c = [{ series: extra.group, source, x: p.result.t, y: p.result.trainLoss, extra: { ...extra, set: 'train loss' } }];
      if (Array.isArray(p.result.testLoss))
        c.push({ series: extra.group, source, x: p.result.t, y: p.result.testLoss, extra: { ...extra, set: 'test loss' } });
      return c;
    });
    // theory drawn first, solid and wider; simulations dashed on top (as in the loss plot of spec.ts)
    const rows = curveRows(curves, log).sort((a, b) => (a.source === b.source ? 0 : a.source === 'theory' ? -1 : 1));
    const both = SOURCES.every((s) => rows.some((r) => r.source === s));
    const dash = sourceDash(both, 'simulation');
    return {
      ...head,
      title: { text: o.title ?? 'Loss curves of the sweep', subtitle },
      data: { values: rows },
      facet: { column: { field: 'set', type: 'nominal', sort: ['train loss', 'test loss'], title: null } },
      spec: {
        width: 340,
        height: 260,
        mark: { type: 'line', opacity: 0.85 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: 't' },
          y: { field: 'y', type: 'quantitative', title: 'loss', ...y },
          color,
          ...dash,
          strokeWidth: { field: 'lw', type: 'quantitative', scale: null, legend: null },
          detail: { field: 'point' },
        },
      },
    } as unknown as TopLevelSpec;
  }

  const xAxis = x!;
  const xNumeric = numeric(xAxis);
  const xOrder = [...new Set(points.filter((p) => p.params[xAxis] !== undefined).map((p) => text(p.params[xAxis])))];
  const rows: Row[] = [];
  let smallest = Infinity;
  const pending: { row: Row; sem: unknown }[] = [];
  for (const p of points) {
    const base: Row = { group: groupOf(p, colorAxes), line: groupOf(p, restAxes), label: p.record.key };
    const xv = p.params[xAxis];
    if (xv !== undefined) base.x = xNumeric ? (xv as number) : text(xv);
    for (const [set, curve, semKey] of [
      ['train loss', p.result.trainLoss, 'trainLossSem'],
      ['test loss', p.result.testLoss, 'testLossSem'],
    ] as const) {
      const v = last(curve as unknown[] | undefined);
      if (!finite(v) || (log && v <= 0)) continue;
      smallest = Math.min(smallest, v);
      pending.push({ row: { ...base, set, y: v }, sem: last(semOf(p.result, semKey)) });
    }
  }
  for (const { row, sem } of pending) {
    if (finite(sem)) {
      row.lo = log ? Math.max((row.y as number) - sem, smallest / 2) : (row.y as number) - sem;
      row.hi = (row.y as number) + sem;
    }
    rows.push(row);
  }
  const integers = rows.every((r) => !('x' in r) || Number.isInteger(r.x));
  // ticks at the swept values themselves when there are few of them
  const swept = [...new Set(rows.filter((r) => 'x' in r).map((r) => r.x as number))].sort((a, b) => a - b);
  const ticks = swept.length <= 12 ? { values: swept } : {};
  const xEnc = {
    field: 'x',
    type: xNumeric ? 'quantitative' : 'ordinal',
    title: xAxis,
    ...(xNumeric
      ? {
          scale: { padding: 14, nice: false, ...(o.logX ? { type: 'log' } : { zero: false }) },
          axis: { labelOverlap: 'greedy', ...ticks, ...(integers ? { format: 'd', tickMinStep: 1 } : { format: '~g' }) },
        }
      : { sort: xOrder, axis: { labelAngle: 0 } }),
  };
  const yEnc = { field: 'y', type: 'quantitative', title: 'final loss', ...y, scale: log ? { type: 'log' } : { zero: false } };
  const layers: Json[] = [];
  if (rows.some((r) => 'lo' in r && 'x' in r))
    layers.push({
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.x)' }],
      mark: { type: 'errorbar', ticks: { size: 6 } },
      encoding: { x: xEnc, y: { ...yEnc, field: 'lo' }, y2: { field: 'hi' }, color, detail: { field: 'line' } },
    });
  layers.push({
    transform: [{ filter: 'isValid(datum.x)' }],
    mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 45 } },
    encoding: {
      x: xEnc,
      y: yEnc,
      color,
      detail: { field: 'line' },
      tooltip: [
        { field: 'label', title: 'point' },
        { field: 'y', format: '.4g', title: 'final loss' },
      ],
    },
  });
  if (rows.some((r) => !('x' in r)))
    layers.push({
      transform: [{ filter: '!isValid(datum.x)' }],
      mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 },
      encoding: { y: yEnc, color, detail: { field: 'line' } },
    });
  const without = rows.some((r) => !('x' in r)) ? `; dashed: points without ${xAxis}` : '';
  return {
    ...head,
    title: {
      text: o.title ?? `Final loss against ${xAxis}`,
      subtitle: `${subtitle}${without}${rows.some((r) => 'lo' in r) ? '; error bars ± SEM' : ''}`,
    },
    data: { values: rows },
    facet: { column: { field: 'set', type: 'nominal', sort: ['train loss', 'test loss'], title: null } },
    spec: { width: 320, height: 250, layer: layers },
    // final train and test losses differ by orders of magnitude: each panel its own y axis
    resolve: { scale: { y: 'independent' } },
  } as unknown as TopLevelSpec;
}
