import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../core/errors.js';
import { plotSpec, PLOT_KINDS, sweepSpec } from '../plot/spec.js';
import { renderPng, renderSvg } from '../plot/render.js';
import { action, intOption, readText } from './io.js';
import { readRecords } from './sweep/store.js';

interface PlotOpts {
  out: string;
  kind?: string;
  log?: boolean;
  title?: string;
  times?: string;
  sweep?: string;
  x?: string;
  color?: string;
  curves?: boolean;
  logX?: boolean;
  pngWidth?: number;
}

/** `dmft plot RESULT.json... --out FIG` and `dmft plot --sweep DIR --out FIG`: figures as SVG or PNG. */
export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description(`figures of results (${PLOT_KINDS.join(', ')}) or of a sweep directory, as SVG or PNG`)
    .usage(
      `RESULT.json... --out FIG.svg|FIG.png [--kind ${PLOT_KINDS.join('|')}] [--log] [--title T] [--times LIST]\n       dmft plot --sweep DIR --out FIG.svg|FIG.png [--x AXIS] [--color AXIS] [--curves] [--log] [--log-x] | [--kind KIND]`,
    )
    .argument('[results...]', 'result JSON files (of solve, lazy, simulate)')
    .requiredOption('--out <file>', 'the figure: FILE.svg or FILE.png')
    .option('--kind <kind>', `what to plot of the results (with --sweep: of every point): ${PLOT_KINDS.join(', ')} (default loss)`)
    .option('--log', 'log y axis')
    .option('--title <text>', 'figure title')
    .option(
      '--times <list>',
      'kernels: recorded times to show, indices (0, 3, -1, first, last) or t values with a decimal point (2.5); default 0,last',
    )
    .option('--sweep <dir>', 'plot the sweep output directory DIR (DIR/results.jsonl) instead of result files')
    .option('--x <axis>', 'sweep: the grid axis on the x axis, e.g. model.gamma0 or width (default: the first numeric axis that varies)')
    .option('--color <axis>', 'sweep: the grid axis coloring the lines (default: all other axes that vary)')
    .option('--curves', "sweep: every point's loss curves against t, colored by --color, instead of final losses against --x")
    .option('--log-x', 'sweep: log x axis (e.g. width or P)')
    .option('--png-width <px>', 'PNG width in pixels (default twice the figure size)', intOption('--png-width', 16))
    .action(action((files: string[], o: PlotOpts) => plot(files, o)));
}

async function plot(files: string[], o: PlotOpts): Promise<void> {
  const ext = extname(o.out).toLowerCase();
  if (ext !== '.svg' && ext !== '.png')
    throw new InputError('--out', `expected a file ending in .svg or .png, got ${JSON.stringify(o.out)}`);
  let spec;
  if (o.sweep !== undefined) {
    if (files.length) throw new InputError('--sweep', 'plots a sweep directory: give it without result files');
    const file = join(o.sweep, 'results.jsonl');
    if (!existsSync(file)) throw new InputError('--sweep', `${file}: no such file (is ${o.sweep} the --out directory of a dmft sweep?)`);
    // a reader only: another process may be appending to the file, so a torn last line is skipped, not repaired
    const { records } = readRecords(o.sweep, { repair: false });
    if (o.kind !== undefined) {
      // every finished point's result as a result file of its own, named by its key
      for (const flag of ['x', 'color', 'curves', 'logX'] as const)
        if (o[flag] !== undefined)
          throw new InputError(flag === 'logX' ? '--log-x' : `--${flag}`, 'not with --kind (which plots every point of the sweep)');
      const done = [...records.values()].filter((r) => r.result && !r.error).sort((a, b) => a.index - b.index);
      if (!done.length) throw new InputError('--sweep', `${o.sweep}: no finished point to plot`);
      const times = o.times?.split(',').map((s) => s.trim());
      spec = plotSpec(
        done.map((r) => r.result),
        o.kind,
        {
          names: done.map((r) => r.key),
          // a line color per grid value, theory and simulations of it told apart by the dash
          labels: done.map(
            (r) =>
              Object.entries(r.params)
                .filter(([k]) => k !== 'kind')
                .map(([k, v]) => `${k}=${v}`)
                .join(', ') || r.key,
          ),
          log: o.log,
          title: o.title,
          times,
        },
      );
    } else {
      if (o.times !== undefined) throw new InputError('--times', 'with --sweep only together with --kind');
      spec = sweepSpec([...records.values()], { x: o.x, color: o.color, curves: o.curves, log: o.log, logX: o.logX, title: o.title });
    }
  } else {
    if (!files.length) throw new InputError('RESULT', 'give result JSON files, or --sweep DIR');
    for (const flag of ['x', 'color', 'curves', 'logX'] as const)
      if (o[flag] !== undefined) throw new InputError(flag === 'logX' ? '--log-x' : `--${flag}`, 'only with --sweep DIR');
    const results = files.map((f) => {
      const text = readText(f);
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw new InputError(f, `not JSON (${(e as Error).message})`);
      }
    });
    const times = o.times?.split(',').map((s) => s.trim());
    spec = plotSpec(results, o.kind ?? 'loss', { names: files, log: o.log, title: o.title, times });
  }
  const body = ext === '.svg' ? await renderSvg(spec) : await renderPng(spec, o.pngWidth);
  const tmp = `${o.out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, body);
    renameSync(tmp, o.out);
  } catch (e) {
    throw new InputError('--out', `cannot write ${o.out} (${(e as Error).message})`);
  }
  process.stderr.write(`wrote ${o.out}\n`);
}
