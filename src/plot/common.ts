import { InputError } from '../core/errors.js';

/** Pieces shared by the result plots (spec.ts) and the sweep plots (sweep.ts); no Node APIs. */

export type Row = Record<string, string | number>;

/** A spec under construction: plain JSON, cast to vega-lite's TopLevelSpec once built. */
export type Json = Record<string, unknown>;

const METHOD_LABELS: Record<string, string> = {
  'two-layer': 'two-layer DMFT',
  'monte-carlo': 'Monte Carlo DMFT',
  'deep-linear': 'deep linear DMFT',
  'gradient-independent': 'gradient-independent DMFT',
  'static-ntk': 'static NTK',
  perturbative: 'O(gamma0^2) perturbation theory',
};

/** The fields of a result that the plots read (docs/INTERFACE.md, Result); everything else is ignored. */
export interface ResultLike {
  t: number[];
  trainLoss: number[];
  testLoss?: number[];
  width?: number;
  seeds?: number;
  meta?: { method?: string; samplingError?: Record<string, unknown>; [key: string]: unknown };
  [key: string]: unknown;
}

/** `value` as a result with t and trainLoss arrays of one length, or refused naming `name`. */
export function asResult(value: unknown, name: string): ResultLike {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InputError(name, 'not a dmft result (expected a JSON object)');
  const r = value as ResultLike;
  if (!Array.isArray(r.t)) throw new InputError(name, 'no t (not a dmft result)');
  if (!Array.isArray(r.trainLoss)) throw new InputError(name, 'no trainLoss (not a dmft result)');
  if (r.trainLoss.length !== r.t.length) throw new InputError(name, `trainLoss has ${r.trainLoss.length} entries for ${r.t.length} times`);
  return r;
}

/** A simulation (finite width) rather than a theory curve. */
export function isSimulation(r: ResultLike): boolean {
  return typeof r.width === 'number' || r.meta?.method === 'simulate';
}

/** Legend label from the method, width and seeds: "two-layer DMFT", "simulate N=256, 4 seeds". */
export function methodLabel(r: ResultLike): string {
  const method = String(r.meta?.method ?? 'result');
  if (isSimulation(r)) {
    const parts = [
      typeof r.width === 'number' ? `N=${r.width}` : '',
      typeof r.seeds === 'number' ? `${r.seeds} seed${r.seeds === 1 ? '' : 's'}` : '',
    ].filter(Boolean);
    return parts.length ? `${method} ${parts.join(', ')}` : method;
  }
  return METHOD_LABELS[method] ?? method;
}

/** Scalar leaves of a config as dotted paths (arrays of data are skipped). */
function leaves(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  else if (!Array.isArray(value) && value !== undefined) out.set(prefix, typeof value === 'number' ? fmt(value) : String(value));
  return out;
}

/**
 * One label per result. Labels that repeat get what tells the results apart: the config values that differ
 * among them (results carry their config), else the result's name or position.
 */
export function uniqueLabels(results: readonly ResultLike[], names: readonly string[]): string[] {
  const base = results.map(methodLabel);
  const out = [...base];
  for (const label of new Set(base)) {
    const idx = base.flatMap((l, i) => (l === label ? [i] : []));
    if (idx.length < 2) continue;
    const configs = idx.map((i) => leaves(results[i].config));
    const paths = [...new Set(configs.flatMap((c) => [...c.keys()]))].filter((p) => new Set(configs.map((c) => c.get(p))).size > 1);
    const by = idx.map((_, j) =>
      paths
        .slice(0, 2)
        .map((p) => `${p}=${configs[j].get(p) ?? '-'}`)
        .join(', '),
    );
    const distinct = paths.length > 0 && new Set(by).size === idx.length;
    idx.forEach((i, j) => (out[i] = `${label} (${distinct ? by[j] : (names[i] ?? `#${i + 1}`)})`));
  }
  return out;
}

/** A standard error per time: top-level (simulations) first, then meta.samplingError (Monte Carlo solves). */
export function semOf(r: ResultLike, key: string): number[] | undefined {
  const top = r[key];
  if (Array.isArray(top)) return top as number[];
  const se = r.meta?.samplingError?.[key];
  return Array.isArray(se) ? (se as number[]) : undefined;
}

export const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Short number text for labels: 4 significant digits, no trailing zeros. */
export const fmt = (x: number): string => String(+x.toPrecision(4));

export interface Curve {
  series: string;
  source: 'theory' | 'simulation';
  x: number[];
  y: (number | null)[];
  sem?: (number | null)[];
}

/**
 * Long-format rows of curves, `extra` fields added to each; with `log`, non-positive values are dropped and a
 * band's lower edge is clipped at half the smallest value shown (a log axis cannot reach 0).
 */
export function curveRows(curves: readonly (Curve & { extra?: Row })[], log: boolean): Row[] {
  const ys = curves.flatMap((c) => c.y.filter((v): v is number => finite(v) && (!log || v > 0)));
  const floor = ys.length ? Math.min(...ys) / 2 : 0;
  // line widths: simulations thin; theory curves drawn in order, each thinner than the one before, so that
  // one lying on another still shows at its edges
  const theory = [...new Set(curves.filter((c) => c.source === 'theory').map((c) => c.series))];
  const lw = (c: Curve) =>
    c.source === 'simulation' ? 1.4 : theory.length === 1 ? 2.4 : [3.4, 2.3, 1.6][Math.min(theory.indexOf(c.series), 2)];
  const rows: Row[] = [];
  for (const c of curves)
    c.x.forEach((x, k) => {
      const y = c.y[k];
      if (!finite(x) || !finite(y) || (log && y <= 0)) return;
      const row: Row = { series: c.series, source: c.source, x, y, lw: lw(c), ...c.extra };
      const s = c.sem?.[k];
      if (finite(s)) {
        row.lo = log ? Math.max(y - s, floor) : y - s;
        row.hi = y + s;
      }
      rows.push(row);
    });
  return rows;
}

/** Theory solid and drawn first; simulations dashed with markers on top, so a curve under another still shows. */
export const SOURCES = ['theory', 'simulation'] as const;
export const SOURCE_DASH = [
  [1, 0],
  [5, 3],
];
export const SOURCE_LABELS: Record<string, string> = { theory: 'theory (N = ∞)', simulation: 'simulation (± SEM)' };

/** The encoding that dashes simulations and draws theory solid, with its legend, when a figure has both. */
export function sourceDash(both: boolean, simulationLabel: string) {
  if (!both) return {};
  return {
    strokeDash: {
      field: 'source',
      type: 'nominal',
      scale: { domain: [...SOURCES], range: SOURCE_DASH },
      legend: {
        title: null,
        labelExpr: `datum.label === 'theory' ? '${SOURCE_LABELS.theory}' : '${simulationLabel}'`,
        symbolStrokeColor: '#555',
      },
    },
  };
}

/**
 * Layers of a line chart of curveRows: SEM band, line, and markers on simulated curves; color by series in
 * `order`, dash by source when both sources appear.
 */
export function curveLayers(
  rows: readonly Row[],
  order: readonly string[],
  axes: { x: Json; y: Json },
  colorLegend: Json | null = { title: null },
): Json[] {
  const both = SOURCES.every((s) => rows.some((r) => r.source === s));
  const color = { field: 'series', type: 'nominal', scale: { domain: order }, legend: colorLegend, sort: order };
  // band and markers filled by a copy of the series field (same domain, so same colors): vega-lite would merge
  // a legend of the field itself with the lines' legend, which should show line symbols
  const fill = { field: 'fillSeries', type: 'nominal', scale: { domain: order }, legend: null };
  const copy = { calculate: 'datum.series', as: 'fillSeries' };
  const x = { field: 'x', type: 'quantitative', ...axes.x };
  const y = { field: 'y', type: 'quantitative', ...axes.y };
  const dash = sourceDash(both, SOURCE_LABELS.simulation);
  const layers: Json[] = [];
  if (rows.some((r) => 'lo' in r))
    layers.push({
      transform: [{ filter: 'isValid(datum.lo)' }, copy],
      mark: { type: 'errorband', opacity: 0.22 },
      encoding: { x, y: { field: 'lo', type: 'quantitative', ...axes.y }, y2: { field: 'hi' }, fill },
    });
  layers.push({
    mark: { type: 'line', opacity: 0.9 },
    encoding: { x, y, color, ...dash, strokeWidth: { field: 'lw', type: 'quantitative', scale: null, legend: null } },
  });
  const markers = rows.filter((r) => r.source === 'simulation').length;
  if (markers > 0)
    layers.push({
      transform: [{ filter: "datum.source === 'simulation'" }, copy],
      mark: { type: 'point', filled: true, stroke: null, size: markers > 400 ? 8 : 22, opacity: 0.9 },
      encoding: { x, y, fill },
    });
  return layers;
}

/** Refuse an option value that is not one of `allowed`. */
export function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new InputError(field, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

export const BASE_CONFIG = {
  background: 'white',
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  header: { labelFontSize: 12, titleFontSize: 12 },
  legend: { labelFontSize: 11, labelLimit: 320, symbolStrokeWidth: 2 },
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555' },
};
