import type { TopLevelSpec } from 'vega-lite';
import { InputError } from '../core/errors.js';
import {
  asResult,
  BASE_CONFIG,
  isSimulation,
  curveLayers,
  curveRows,
  finite,
  fmt,
  oneOf,
  semOf,
  uniqueLabels,
  type Curve,
  type Json,
  type ResultLike,
  type Row,
} from './common.js';

/**
 * Vega-Lite specs of dmft results, for `dmft plot` (src/cli/plot.ts). A spec is plain JSON and this module
 * uses no Node API: the same spec renders headless in Node (src/plot/render.ts) and in a browser with
 * vega-embed.
 */

export const PLOT_KINDS = ['loss', 'kernels', 'alignment', 'histograms', 'stability'] as const;
export type PlotKind = (typeof PLOT_KINDS)[number];

export interface PlotOptions {
  /** one name per result (e.g. its file): refusals name it, and it tells apart results with equal labels */
  names?: string[];
  /** legend labels, one per result (default: the method, and what tells apart results that share it) */
  labels?: string[];
  /** log y axis (loss, alignment) */
  log?: boolean;
  title?: string;
  /**
   * kernels: the recorded times shown, as indices (0, 3, -1, 'first', 'last') or t values with a decimal
   * point ('2.5', '10.0', the nearest recorded time); default first and last
   */
  times?: (string | number)[];
}

export { sweepSpec, type SweepRecord, type SweepPlotOptions } from './sweep.js';

/** The Vega-Lite spec of `kind` for `results` (parsed result JSON); a result without what the kind needs is refused. */
export function plotSpec(results: readonly unknown[], kind: string = 'loss', options: PlotOptions = {}): TopLevelSpec {
  const k = oneOf('--kind', kind, PLOT_KINDS);
  if (results.length === 0) throw new InputError('results', 'nothing to plot (give at least one result)');
  const names = results.map((_, i) => options.names?.[i] ?? `results[${i}]`);
  const rs = results.map((r, i) => asResult(r, names[i]));
  const labels = options.labels ?? uniqueLabels(rs, names);
  const spec = { loss: lossSpec, kernels: kernelSpec, alignment: alignmentSpec, histograms: histogramSpec, stability: stabilitySpec }[k](
    rs,
    labels,
    names,
    options,
  );
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: BASE_CONFIG, ...spec } as unknown as TopLevelSpec;
}

const source = (r: ResultLike): Curve['source'] => (isSimulation(r) ? 'simulation' : 'theory');

/** Train and test loss against t, one facet each; theory solid, simulations dashed with markers and an SEM band. */
function lossSpec(rs: ResultLike[], labels: string[], _names: string[], o: PlotOptions): Json {
  const curves = rs.flatMap((r, i) => {
    const c: (Curve & { extra: Row })[] = [
      { series: labels[i], source: source(r), x: r.t, y: r.trainLoss, sem: semOf(r, 'trainLossSem'), extra: { set: 'train loss' } },
    ];
    if (Array.isArray(r.testLoss))
      c.push({ series: labels[i], source: source(r), x: r.t, y: r.testLoss, sem: semOf(r, 'testLossSem'), extra: { set: 'test loss' } });
    return c;
  });
  const rows = curveRows(curves, !!o.log);
  const y = { title: 'loss', scale: o.log ? { type: 'log' } : { zero: true }, axis: o.log ? { format: '~g' } : {} };
  return {
    title: o.title ?? 'Learning curves',
    data: { values: rows },
    facet: { column: { field: 'set', type: 'nominal', sort: ['train loss', 'test loss'], title: null } },
    spec: { width: 340, height: 260, layer: curveLayers(rows, labels, { x: { title: 't' }, y }) },
    resolve: { scale: { y: 'shared' } },
  };
}

/** Kernel-target alignment against t, one line per result (band from alignmentSem where a result has it). */
function alignmentSpec(rs: ResultLike[], labels: string[], names: string[], o: PlotOptions): Json {
  const curves = rs.map((r, i): Curve => {
    const a = r.alignment;
    if (!Array.isArray(a)) throw new InputError(names[i], 'no alignment (run with "output": {"alignment": true})');
    if (a.length !== r.t.length) throw new InputError(`${names[i]}: alignment`, `has ${a.length} entries for ${r.t.length} times`);
    return { series: labels[i], source: source(r), x: r.t, y: a as number[], sem: semOf(r, 'alignmentSem') };
  });
  const rows = curveRows(curves, !!o.log);
  const y = { title: 'kernel-target alignment', scale: o.log ? { type: 'log' } : { zero: false } };
  return {
    title: o.title ?? 'Kernel-target alignment of the NTK',
    data: { values: rows },
    width: 420,
    height: 280,
    layer: curveLayers(rows, labels, { x: { title: 't' }, y }),
  };
}

/**
 * Gradient descent: the train loss and lr lambda_max(K(t_k)) / P (meta.lrStability, with meta.lrStabilitySem for
 * simulations) against the step k = t / lr, side by side, a rule at 2 (the lazy dynamics' stability limit).
 */
function stabilitySpec(rs: ResultLike[], labels: string[], names: string[], o: PlotOptions): Json {
  const loss: Curve[] = [],
    edge: Curve[] = [];
  rs.forEach((r, i) => {
    const s = r.meta?.lrStability,
      lr = (r.config as { train?: { lr?: unknown } } | undefined)?.train?.lr;
    if (!Array.isArray(s) || typeof lr !== 'number')
      throw new InputError(
        names[i],
        'no meta.lrStability (a gradient-descent result, train.steps and train.lr, of dmft solve, lazy or simulate)',
      );
    const step = r.t.map((t) => Math.round(t / lr));
    loss.push({ series: labels[i], source: source(r), x: step, y: r.trainLoss, sem: semOf(r, 'trainLossSem') });
    const sem = r.meta?.lrStabilitySem;
    edge.push({ series: labels[i], source: source(r), x: step, y: s as number[], sem: Array.isArray(sem) ? (sem as number[]) : undefined });
  });
  const lossRows = curveRows(loss, !!o.log),
    edgeRows = curveRows(edge, false);
  const x = { title: 'gradient-descent step k' };
  const y = { title: 'train loss', scale: o.log ? { type: 'log' } : { zero: true }, axis: o.log ? { format: '~g' } : {} };
  return {
    title: o.title ?? 'Gradient descent: loss and lr lambda_max(K) / P',
    hconcat: [
      { width: 340, height: 260, data: { values: lossRows }, layer: curveLayers(lossRows, labels, { x, y }) },
      {
        width: 340,
        height: 260,
        layer: [
          {
            data: { values: edgeRows },
            layer: curveLayers(edgeRows, labels, { x, y: { title: 'lr lambda_max(K(t)) / P', scale: { zero: true } } }),
          },
          {
            data: { values: [{ edge: 2 }] },
            mark: { type: 'rule', color: '#888', strokeDash: [2, 2] },
            encoding: { y: { field: 'edge', type: 'quantitative' } },
          },
        ],
      },
    ],
    resolve: { scale: { color: 'shared', strokeDash: 'shared' } },
  };
}

/** Index into `t` of one --times token; refusals name the option and the result. */
export function timeIndex(token: string | number, t: readonly number[], name: string): number {
  const s = String(token).trim();
  if (s === 'first') return 0;
  if (s === 'last') return t.length - 1;
  if (/^[-+]?\d+$/.test(s)) {
    const k = Number(s) < 0 ? t.length + Number(s) : Number(s);
    if (k < 0 || k >= t.length)
      throw new InputError('--times', `index ${s} is out of range: ${name} has ${t.length} recorded times (indices 0..${t.length - 1})`);
    return k;
  }
  const v = Number(s);
  if (s === '' || !Number.isFinite(v))
    throw new InputError(
      '--times',
      `expected indices (0, 3, -1, first, last) or t values with a decimal point (2.5, 10.0), got ${JSON.stringify(s)}`,
    );
  const span = t[t.length - 1] - t[0],
    slack = span / Math.max(t.length - 1, 1) / 2 + 1e-9 * Math.abs(span);
  if (v < t[0] - slack || v > t[t.length - 1] + slack)
    throw new InputError('--times', `t = ${s} is outside the recorded times of ${name} (${fmt(t[0])} to ${fmt(t[t.length - 1])})`);
  let best = 0;
  t.forEach((tk, k) => Math.abs(tk - v) < Math.abs(t[best] - v) && (best = k));
  return best;
}

const SUP = '⁰¹²³⁴⁵⁶⁷⁸⁹';
const sup = (n: number) => [...String(n)].map((d) => SUP[+d]).join('');

interface Kernels {
  Phi: number[][][][];
  G: number[][][][];
  ntk: number[][][];
}

/** Heat maps of Phi^l(t,t), G^l(t,t) and the NTK, a column per kernel (its own color scale) and a row per chosen time. */
function kernelSpec(rs: ResultLike[], labels: string[], names: string[], o: PlotOptions): Json {
  const rows: Row[] = [];
  const panels: string[] = [];
  const columns: string[] = [];
  const addColumn = (c: string) => columns.includes(c) || columns.push(c);
  let points = 0,
    train = 0;
  rs.forEach((r, i) => {
    const kern = r.kernels as Kernels | undefined;
    if (!kern || !Array.isArray(kern.Phi) || !Array.isArray(kern.G) || !Array.isArray(kern.ntk))
      throw new InputError(names[i], 'no kernels (run with "output": {"kernels": true})');
    if (kern.ntk.length !== r.t.length)
      throw new InputError(`${names[i]}: kernels.ntk`, `has ${kern.ntk.length} times for ${r.t.length} recorded times`);
    const ks = [...new Set((o.times ?? ['first', 'last']).map((tok) => timeIndex(tok, r.t, names[i])))];
    const L = kern.Phi.length;
    for (let l = 1; l <= L; l++) addColumn(`Φ${sup(l)}`);
    for (let l = 1; l <= L; l++) addColumn(`G${sup(l)}`);
    addColumn('NTK');
    points = Math.max(points, kern.ntk[0]?.length ?? 0);
    train = Math.max(train, Array.isArray(r.ntkFinal) ? r.ntkFinal.length : 0);
    for (const k of ks) {
      const panel = rs.length > 1 ? `${labels[i]}, t = ${fmt(r.t[k])}` : `t = ${fmt(r.t[k])}`;
      panels.push(panel);
      const add = (name: string, m: number[][] | undefined) =>
        m?.forEach((row, mu) => row.forEach((v, nu) => finite(v) && rows.push({ k: name, panel, mu: mu + 1, nu: nu + 1, v })));
      for (let l = 0; l < L; l++) add(`Φ${sup(l + 1)}`, kern.Phi[l]?.[k]);
      for (let l = 0; l < L; l++) add(`G${sup(l + 1)}`, kern.G[l]?.[k]);
      add('NTK', kern.ntk[k]);
    }
  });
  const size = Math.max(110, Math.min(170, 720 / columns.length));
  const step = points > 60 ? 20 : points > 25 ? 10 : 5;
  const ticks = Array.from({ length: points }, (_, j) => j + 1).filter((j) => j === 1 || j % step === 0);
  const axis = (title: string) => ({
    field: title === 'ν' ? 'nu' : 'mu',
    type: 'ordinal',
    title,
    axis: { values: ticks, labelAngle: 0, labelFontSize: 9, ticks: true, grid: false, labelPadding: 2 },
  });
  const split = train > 0 && train < points ? `; points 1–${train} train, ${train + 1}–${points} test` : '';
  return {
    title: { text: o.title ?? 'Kernels', subtitle: `Φˡ(t, t), Gˡ(t, t) and the NTK at the times of each row${split}` },
    data: { values: rows },
    hconcat: columns.map((c, j) => {
      const vs = rows.filter((r) => r.k === c).map((r) => r.v as number);
      const lo = Math.min(...vs),
        hi = Math.max(...vs);
      // a kernel of both signs gets a diverging scale centred at 0
      const scale = lo < 0 && hi > 0 ? { scheme: 'blueorange', domainMid: 0 } : { scheme: 'viridis' };
      return {
        title: { text: c === 'NTK' ? 'NTK K(t)' : `${c}(t, t)`, fontSize: 13 },
        transform: [{ filter: { field: 'k', equal: c } }],
        facet: {
          row: { field: 'panel', type: 'nominal', sort: panels, title: null, header: j === 0 ? { labelFontSize: 11 } : { labels: false } },
        },
        spec: {
          width: size,
          height: size,
          // each cell stroked in its own color (a copy of the field, so no second legend): vega's half-pixel
          // offset would otherwise leave antialiased seams between cells
          transform: [{ calculate: 'datum.v', as: 'edge' }],
          mark: { type: 'rect', strokeWidth: 0.6 },
          encoding: {
            stroke: { field: 'edge', type: 'quantitative', scale, legend: null },
            x: axis('ν'),
            y: axis('μ'),
            color: {
              field: 'v',
              type: 'quantitative',
              scale,
              legend: {
                title: null,
                orient: 'bottom',
                direction: 'horizontal',
                gradientLength: size - 10,
                labelFontSize: 9,
                format: '.2~g',
              },
            },
            tooltip: [{ field: 'mu' }, { field: 'nu' }, { field: 'v', format: '.4g' }],
          },
        },
      };
    }),
    resolve: { scale: { color: 'independent', stroke: 'independent' }, legend: { color: 'independent' } },
    spacing: 12,
  };
}

interface Histogram {
  layer?: number;
  edges: number[];
  initial: number[];
  final: number[];
}

/** Preactivation densities at the first and last recorded time, a panel per layer. */
function histogramSpec(rs: ResultLike[], labels: string[], names: string[], o: PlotOptions): Json {
  const many = rs.length > 1;
  const rows: Row[] = [];
  const layers: string[] = [];
  rs.forEach((r, i) => {
    const h = r.histograms as Histogram | Histogram[] | undefined;
    if (!h || typeof h !== 'object')
      throw new InputError(
        names[i],
        'no histograms (run `dmft solve` with "output": {"histograms": true}; simulate and the static NTK do not produce them)',
      );
    const list = Array.isArray(h) ? h : [h];
    const first = fmt(r.t[0]),
      last = fmt(r.t[r.t.length - 1]);
    list.forEach((hist, j) => {
      const layer = `layer ${hist.layer ?? j + 1}`;
      if (!layers.includes(layer)) layers.push(layer);
      const { edges, initial, final } = hist;
      if (
        !Array.isArray(edges) ||
        !Array.isArray(initial) ||
        !Array.isArray(final) ||
        initial.length !== edges.length - 1 ||
        final.length !== edges.length - 1
      )
        throw new InputError(`${names[i]}: histograms`, `${layer}: expected edges (n + 1) and initial, final (n densities)`);
      for (const [when, dens] of [
        [`t = ${first}`, initial],
        [`t = ${last}`, final],
      ] as const)
        dens.forEach(
          (d, b) =>
            finite(d) &&
            rows.push({
              series: labels[i],
              when: many ? (dens === initial ? 'first time' : 'last time') : when,
              layer,
              h: (edges[b] + edges[b + 1]) / 2,
              density: d,
            }),
        );
    });
  });
  const whens = many ? ['first time', 'last time'] : [`t = ${fmt(rs[0].t[0])}`, `t = ${fmt(rs[0].t[rs[0].t.length - 1])}`];
  // one result: the two times by color (grey = start); several: results by color, the times by dash
  const encoding = many
    ? {
        color: { field: 'series', type: 'nominal', scale: { domain: labels }, legend: { title: null } },
        strokeDash: {
          field: 'when',
          type: 'nominal',
          scale: {
            domain: whens,
            range: [
              [4, 3],
              [1, 0],
            ],
          },
          legend: { title: null },
        },
      }
    : { color: { field: 'when', type: 'nominal', scale: { domain: whens, range: ['#999999', '#1f6fb4'] }, legend: { title: null } } };
  return {
    title: {
      text: o.title ?? 'Preactivation densities',
      subtitle: 'density of hˡ over units and points, at the first and last recorded time',
    },
    data: { values: rows },
    facet: { column: { field: 'layer', type: 'nominal', sort: layers, title: null } },
    spec: {
      width: 300,
      height: 220,
      mark: { type: 'line', interpolate: 'step', strokeWidth: 2 },
      encoding: {
        x: { field: 'h', type: 'quantitative', title: 'preactivation h' },
        y: { field: 'density', type: 'quantitative', title: 'density', scale: o.log ? { type: 'symlog', constant: 0.01 } : {} },
        ...encoding,
        detail: { field: 'series' },
      },
    },
  };
}
