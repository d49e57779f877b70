import { describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { InputError, parseConfig, plotSpec, solveLazy, sweepSpec, timeIndex } from '../dist/src/index.js';
import { renderPng, renderSvg } from '../dist/src/plot/render.js';
import { rawConfig, refusal, runCli, tempDir, writeIn } from './helpers.js';

// `dmft plot` and the specs behind it (src/plot/): the figures are read back as SVG structure and PNG pixels.

const dir = tempDir('plot');
/** The command line, run in the test directory. */
const dmft = (...args: string[]) => runCli(args, { cwd: dir });
/** Writes the file `name` into the test directory; returns its name (the command line runs there). */
const write = (name: string, value: unknown) => {
  writeIn(dir, name, value);
  return name;
};

/** Well-formed XML: every tag closed in order, one root, no stray '<' or '&'. Returns the tag count. */
function checkXml(svg: string): number {
  const stack: string[] = [];
  let tags = 0,
    roots = 0;
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const re = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of body.matchAll(re)) {
    if (m[6]) throw new Error(`stray '<' at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i.test(m[5])) throw new Error(`bad entity in ${m[5].slice(0, 40)}`);
      if (stack.length === 0 && m[5].trim()) throw new Error('text outside the root');
      continue;
    }
    tags++;
    const [, close, name, , selfClose] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length) throw new Error(`unclosed <${stack.at(-1)}>`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return tags;
}

/** Paths drawn by marks of one type (vega writes <g class="mark-line role-mark ..."> around each). */
function markPaths(svg: string, mark: string): number {
  let n = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="mark-${mark} role-mark[^"]*"[^>]*>(.*?)</g>`, 'g')))
    n += (m[1].match(/<path /g) ?? []).length;
  return n;
}
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1].replace(/&amp;/g, '&'));
const legendLabels = (svg: string) =>
  [...svg.matchAll(/<g class="mark-text role-legend-label"[^>]*>(.*?)<\/g>/g)].flatMap((m) => texts(m[1]));
const svgSize = (svg: string) => {
  const m = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!;
  return { width: Number(m[1]), height: Number(m[2]) };
};

/** A PNG's IHDR size and its pixels as gray levels (8-bit RGB or RGBA, non-interlaced, as resvg writes). */
function decodePng(png: Buffer) {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  const width = png.readUInt32BE(16),
    height = png.readUInt32BE(20),
    depth = png[24],
    type = png[25];
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  expect(depth).toBe(8);
  const channels = type === 6 ? 4 : type === 2 ? 3 : NaN;
  const idat: Buffer[] = [];
  for (let o = 8; o < png.length;) {
    const len = png.readUInt32BE(o),
      kind = png.toString('latin1', o + 4, o + 8);
    if (kind === 'IDAT') idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels,
    gray = new Uint8Array(width * height);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)],
      line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)),
      cur = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels] : 0,
        b = prev[i],
        c = i >= channels ? prev[i - channels] : 0;
      const p = a + b - c,
        pa = Math.abs(p - a),
        pb = Math.abs(p - b),
        pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      cur[i] = (line[i] + pred) & 255;
    }
    for (let x = 0; x < width; x++) gray[y * width + x] = (cur[x * channels] + cur[x * channels + 1] + cur[x * channels + 2]) / 3;
    prev = cur;
  }
  return { width, height, gray };
}

const config = rawConfig(
  { P: 6, Ptest: 4, D: 4, seed: 1 },
  { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 4, record: 9 }, output: { kernels: true, alignment: true } },
);
const lazy = solveLazy(parseConfig(config));
const T = lazy.t.length;
// a simulation-shaped result (width, seeds, top-level SEMs) and a Monte Carlo-shaped one (SEMs in meta)
const sim = {
  ...lazy,
  width: 256,
  seeds: 4,
  trainLoss: lazy.trainLoss.map((v: number) => v * 1.05),
  testLoss: lazy.testLoss!.map((v: number) => v * 1.05),
  trainLossSem: lazy.t.map(() => 0.004),
  testLossSem: lazy.t.map(() => 0.004),
  meta: { method: 'simulate' },
};
const mc = {
  t: lazy.t,
  trainLoss: lazy.trainLoss.map((v: number) => v * 0.9),
  meta: { method: 'monte-carlo', samplingError: { trainLossSem: lazy.t.map(() => 0.002), testLossSem: [] } },
};
const hist = (shift: number) => {
  const edges = Array.from({ length: 21 }, (_, i) => -3 + (6 * i) / 20);
  const dens = (s: number) => edges.slice(1).map((e) => Math.exp(-((e - 0.15 - s) ** 2) / 2) / Math.sqrt(2 * Math.PI));
  return { edges, initial: dens(0), final: dens(shift) };
};
const solved = {
  ...lazy,
  meta: { method: 'two-layer' },
  histograms: [
    { layer: 1, ...hist(0.3) },
    { layer: 2, ...hist(-0.3) },
  ],
};

describe('plot specs rendered to SVG', () => {
  it('loss: one line per curve, SEM bands where a result has SEMs (top-level or meta.samplingError), axis titles and a legend per result', async () => {
    const spec = plotSpec([lazy, sim, mc], 'loss', { names: ['lazy.json', 'sim.json', 'mc.json'] });
    // plain JSON, as vega-embed takes it in a browser
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
    const svg = await renderSvg(spec);
    expect(checkXml(svg)).toBeGreaterThan(100);
    // lazy and sim: train + test; mc: train only (no testLoss)
    expect(markPaths(svg, 'line')).toBe(5);
    // bands: sim train + test (top-level SEMs), mc train (meta.samplingError); none for lazy
    expect(markPaths(svg, 'area')).toBe(3);
    const t = texts(svg);
    for (const title of ['t', 'loss', 'train loss', 'test loss', 'Learning curves']) expect(t).toContain(title);
    expect(legendLabels(svg)).toEqual([
      'static NTK',
      'simulate N=256, 4 seeds',
      'Monte Carlo DMFT',
      'theory (N = ∞)',
      'simulation (± SEM)',
    ]);
  });

  it('loss --log: a log y axis; zero losses are dropped, not drawn at -infinity', async () => {
    const zero = { ...lazy, trainLoss: lazy.trainLoss.map((v: number, k: number) => (k === T - 1 ? 0 : v)) };
    const spec = plotSpec([zero], 'loss', { log: true, title: 'my title' }) as any;
    const line = spec.spec.layer.find((l: any) => l.mark.type === 'line');
    expect(line.encoding.y.scale.type).toBe('log');
    expect(spec.data.values.filter((r: any) => r.set === 'train loss')).toHaveLength(T - 1);
    const svg = await renderSvg(spec);
    checkXml(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(texts(svg)).toContain('my title');
    expect(markPaths(svg, 'line')).toBe(2);
  });

  it('labels that repeat get the result names; simulations are dashed with markers over solid theory', () => {
    const spec = plotSpec([lazy, lazy, sim], 'loss', { names: ['a.json', 'b.json', 's.json'] }) as any;
    const line = spec.spec.layer.find((l: any) => l.mark.type === 'line');
    expect(line.encoding.color.scale.domain).toEqual(['static NTK (a.json)', 'static NTK (b.json)', 'simulate N=256, 4 seeds']);
    expect(line.encoding.strokeDash.scale.range).toEqual([
      [1, 0],
      [5, 3],
    ]);
    expect(spec.spec.layer.find((l: any) => l.mark.type === 'point').transform[0].filter).toBe("datum.source === 'simulation'");
    // theory lines each thinner than the one before, simulations thin
    const widths = new Map(spec.data.values.map((r: any) => [r.series, r.lw]));
    expect([...widths.values()]).toEqual([3.4, 2.3, 1.4]);
    // results that carry their config are told apart by the values that differ
    const withConfig = (gamma0: number) => ({ ...lazy, config: { model: { depth: 1, gamma0 }, train: { T: 4 } } });
    const labelled = plotSpec([withConfig(0.5), withConfig(2)], 'loss', { names: ['a.json', 'b.json'] }) as any;
    expect(labelled.spec.layer.find((l: any) => l.mark.type === 'line').encoding.color.scale.domain).toEqual([
      'static NTK (model.gamma0=0.5)',
      'static NTK (model.gamma0=2)',
    ]);
  });

  it('kernels: a heat map per kernel and chosen time (indices or t values), the time on each row', async () => {
    const spec = plotSpec([lazy], 'kernels', { times: ['0', '2.0', 'last'] });
    const svg = await renderSvg(spec);
    checkXml(svg);
    const n = 10; // P + Ptest points
    expect(markPaths(svg, 'rect')).toBe(3 * 3 * n * n); // Phi^1, G^1, NTK at 3 times
    const t = texts(svg);
    for (const label of ['Φ¹(t, t)', 'G¹(t, t)', 'NTK K(t)', 't = 0', 't = 2', 't = 4', 'ν', 'μ']) expect(t).toContain(label);
    expect(t.join(' ')).toContain('points 1–6 train, 7–10 test');
  });

  it('alignment: a line per result against t', async () => {
    const svg = await renderSvg(plotSpec([lazy, sim], 'alignment'));
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(2);
    expect(texts(svg)).toContain('kernel-target alignment');
    expect(legendLabels(svg).slice(0, 2)).toEqual(['static NTK', 'simulate N=256, 4 seeds']);
  });

  it('histograms: a panel per layer with the first and last time', async () => {
    const svg = await renderSvg(plotSpec([solved], 'histograms'));
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(4);
    const t = texts(svg);
    for (const label of ['layer 1', 'layer 2', 'preactivation h', 'density']) expect(t).toContain(label);
    expect(legendLabels(svg)).toEqual(['t = 0', 't = 4']);
  });

  it('a result without the field a kind needs is refused naming it', () => {
    // the compiled InputError: the specs are those of dist/
    const refused = (f: () => unknown, message: string) => expect(refusal(f, InputError).message).toBe(message);
    const { kernels: _k, alignment: _a, ...bare } = lazy;
    refused(
      () => plotSpec([lazy, bare], 'kernels', { names: ['ok.json', 'bare.json'] }),
      'bare.json: no kernels (run with "output": {"kernels": true})',
    );
    refused(() => plotSpec([bare], 'alignment'), 'results[0]: no alignment (run with "output": {"alignment": true})');
    refused(
      () => plotSpec([lazy], 'histograms', { names: ['lazy.json'] }),
      'lazy.json: no histograms (run `dmft solve` with "output": {"histograms": true}; simulate and the static NTK do not produce them)',
    );
    refused(() => plotSpec([{ t: [0] }], 'loss', { names: ['x.json'] }), 'x.json: no trainLoss (not a dmft result)');
    refused(() => plotSpec([lazy], 'heat'), '--kind: expected one of loss, kernels, alignment, histograms, stability, got "heat"');
    refused(
      () => plotSpec([lazy], 'kernels', { times: ['99'], names: ['l.json'] }),
      `--times: index 99 is out of range: l.json has ${T} recorded times (indices 0..${T - 1})`,
    );
  });

  it('--times tokens: indices, negative indices, first/last, nearest t for values with a decimal point', () => {
    const t = [0, 0.5, 1, 1.5, 2];
    expect(['0', '-1', 'first', 'last', '3', '1.2', '2.0', '0.0'].map((s) => timeIndex(s, t, 'r'))).toEqual([0, 4, 0, 4, 3, 2, 4, 0]);
    expect(() => timeIndex('5', t, 'r')).toThrow('index 5 is out of range');
    expect(() => timeIndex('7.5', t, 'r')).toThrow('outside the recorded times');
  });
});

describe('PNG', () => {
  it('decodes to the requested width, the height in proportion, with the text drawn (a font is loaded)', async () => {
    // a figure that is only a title: its pixels are dark only if the font rendered
    const title = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'WWWW MMMM', fontSize: 30 },
      width: 300,
      height: 10,
      mark: 'point',
      data: { values: [] },
      config: { view: { stroke: null } },
    } as any;
    const svg = svgSize(await renderSvg(title));
    const png = decodePng(await renderPng(title, 640));
    expect(png.width).toBe(640);
    expect(png.height).toBe(Math.round((640 * svg.height) / svg.width));
    const dark = png.gray.filter((g) => g < 100).length;
    expect(dark).toBeGreaterThan(500);
    // the default is twice the SVG size
    const loss = plotSpec([lazy, sim]);
    const size = svgSize(await renderSvg(loss));
    const def = decodePng(await renderPng(loss));
    expect([def.width, def.height]).toEqual([2 * size.width, 2 * size.height]);
  });
});

describe('dmft plot', () => {
  write('lazy.json', lazy);
  write('sim.json', sim);
  write('solved.json', solved);

  it('writes SVG and PNG (--png-width), one "wrote" line', () => {
    let r = dmft('plot', 'lazy.json', 'sim.json', '--out', 'loss.svg', '--title', 'Two curves');
    expect([r.status, r.stderr]).toEqual([0, 'wrote loss.svg\n']);
    const svg = readFileSync(join(dir, 'loss.svg'), 'utf8');
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(4);
    expect(texts(svg)).toContain('Two curves');
    r = dmft('plot', 'solved.json', '--kind', 'histograms', '--out', 'h.png', '--png-width', '500');
    expect(r.status).toBe(0);
    expect(decodePng(readFileSync(join(dir, 'h.png'))).width).toBe(500);
  });

  it('refuses with one line and exit 2: missing field, unknown kind, unreadable or non-JSON file, another extension', () => {
    const cases: [string[], string][] = [
      [
        ['sim.json', '--kind', 'histograms'],
        'sim.json: no histograms (run `dmft solve` with "output": {"histograms": true}; simulate and the static NTK do not produce them)',
      ],
      [
        [write('bare.json', { t: [0, 1], trainLoss: [1, 0.5], meta: { method: 'static-ntk' } }), '--kind', 'kernels'],
        'bare.json: no kernels (run with "output": {"kernels": true})',
      ],
      [['lazy.json', '--kind', 'surface'], '--kind: expected one of loss, kernels, alignment, histograms, stability, got "surface"'],
      [['missing.json'], 'missing.json: cannot read file (no such file)'],
      [[], 'RESULT: give result JSON files, or --sweep DIR'],
    ];
    for (const [args, message] of cases) {
      const r = dmft('plot', ...args, '--out', 'x.svg');
      expect([r.status, r.stderr.split('\n')[0]]).toEqual([2, `dmft: ${message}`]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const broken = dmft('plot', write('broken.json', '{"t": ['), '--out', 'x.svg');
    expect([broken.status, broken.stderr.startsWith('dmft: broken.json: not JSON ('), broken.stderr.trim().split('\n').length]).toEqual([
      2,
      true,
      1,
    ]);
    const r = dmft('plot', 'lazy.json', '--out', 'fig.pdf');
    expect([r.status, r.stderr]).toEqual([2, 'dmft: --out: expected a file ending in .svg or .png, got "fig.pdf"\n']);
  });
});

describe('dmft plot --sweep', () => {
  const sweep = {
    base: rawConfig({ P: 6, Ptest: 4, D: 4, seed: 1 }, { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { T: 4, record: 9 } }),
    run: { kind: 'lazy' },
    grid: { 'data.synthetic.P': [4, 6, 8], 'model.activation': ['tanh', 'relu'] },
  };
  write('sweep.json', sweep);
  const ran = dmft('sweep', 'sweep.json', '--out', 'sw', '--workers', '1', '--quiet');

  it('final losses against --x, a line per value of the other axes; --x, --color chosen by name', () => {
    expect(ran.status).toBe(0);
    let r = dmft('plot', '--sweep', 'sw', '--out', 'sw.svg');
    expect(r.status).toBe(0);
    let svg = readFileSync(join(dir, 'sw.svg'), 'utf8');
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(2 * 2); // 2 activations x (train, test)
    expect(texts(svg)).toContain('data.synthetic.P');
    expect(legendLabels(svg)).toEqual(['model.activation=tanh', 'model.activation=relu']);
    expect(texts(svg)).toContain('6 points');
    r = dmft('plot', '--sweep', 'sw', '--x', 'model.activation', '--color', 'data.synthetic.P', '--out', 'sw2.svg');
    expect(r.status).toBe(0);
    svg = readFileSync(join(dir, 'sw2.svg'), 'utf8');
    expect(markPaths(svg, 'line')).toBe(3 * 2);
    expect(texts(svg)).toEqual(expect.arrayContaining(['tanh', 'relu', 'model.activation']));
    expect(legendLabels(svg)).toEqual(['data.synthetic.P=4', 'data.synthetic.P=6', 'data.synthetic.P=8']);
    r = dmft('plot', '--sweep', 'sw', '--x', 'model.gamma0', '--out', 'x.svg');
    expect([r.status, r.stderr]).toEqual([
      2,
      'dmft: --x: "model.gamma0" is not an axis of the sweep (axes: kind, data.synthetic.P, model.activation)\n',
    ]);
  });

  it("--curves: every point's train and test curves; a later line for a point replaces an earlier one", () => {
    const file = join(dir, 'sw', 'results.jsonl');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const failed = { ...JSON.parse(lines[0]), result: undefined, error: 'boom' };
    appendFileSync(file, JSON.stringify(failed) + '\n');
    const r = dmft('plot', '--sweep', 'sw', '--curves', '--color', 'model.activation', '--out', 'curves.png', '--png-width', '400');
    expect(r.status).toBe(0);
    expect(decodePng(readFileSync(join(dir, 'curves.png'))).width).toBe(400);
    dmft('plot', '--sweep', 'sw', '--curves', '--color', 'model.activation', '--out', 'curves.svg');
    const svg = readFileSync(join(dir, 'curves.svg'), 'utf8');
    expect(markPaths(svg, 'line')).toBe(5 * 2);
    expect(texts(svg)).toContain('5 points; 1 failed, not shown');
    expect(legendLabels(svg)).toEqual(['model.activation=tanh', 'model.activation=relu']);
  });

  it('error bars from the SEMs; a point without the x axis as a horizontal rule', async () => {
    const rec = (index: number, params: Record<string, unknown>, loss: number, sem?: number) => ({
      index,
      key: JSON.stringify(params),
      kind: String(params.kind),
      params,
      seconds: 1,
      result: {
        t: [0, 1],
        trainLoss: [1, loss],
        testLoss: [1, 2 * loss],
        ...(sem ? { width: params.width, seeds: 4, trainLossSem: [0, sem], testLossSem: [0, sem] } : {}),
        meta: { method: String(params.kind) },
      },
    });
    const records = [
      rec(0, { kind: 'solve' }, 0.1),
      rec(1, { kind: 'simulate', width: 100 }, 0.2, 0.01),
      rec(2, { kind: 'simulate', width: 200 }, 0.15, 0.01),
    ];
    const svg = await renderSvg(sweepSpec(records));
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(2); // simulate, train and test
    const rules = [...svg.matchAll(/<g class="mark-rule role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].flatMap(
      (m) => m[1].match(/<line [^>]*>/g) ?? [],
    );
    // the solve point: a dashed rule per panel; error bars: a solid rule per simulated point and panel
    expect(rules.filter((l) => l.includes('stroke-dasharray="6,4"'))).toHaveLength(2);
    expect(rules.filter((l) => !l.includes('stroke-dasharray'))).toHaveLength(4);
    expect(texts(svg)).toContain('width');
    expect(texts(svg)).toContain('3 points; dashed: points without width; error bars ± SEM');
    expect(() => sweepSpec([{ ...records[0], result: undefined, error: 'x' }])).toThrow(
      'results.jsonl: no finished points to plot (1 record, 1 failed)',
    );
  });
});

describe('dmft plot --sweep --kind stability', () => {
  const sweep = {
    base: rawConfig(
      { P: 6, Ptest: 4, D: 4, seed: 1 },
      { model: { depth: 1, activation: 'tanh', gamma0: 1 }, train: { steps: 8, lr: 1, record: 9 } },
    ),
    run: { width: 64, seeds: 2 },
    grid: { kind: ['lazy', 'simulate'], 'train.lr': [0.5, 1] },
  };
  write('sweep-lr.json', sweep);
  const ran = dmft('sweep', 'sweep-lr.json', '--out', 'sw-lr', '--workers', '1', '--quiet');

  it("every point's loss and lr lambda_max / P against the step, a color per lr, the rule at 2", () => {
    expect([ran.status, ran.stderr]).toEqual([0, '']);
    const r = dmft('plot', '--sweep', 'sw-lr', '--kind', 'stability', '--log', '--out', 'lr.svg');
    expect([r.status, r.stderr]).toEqual([0, 'wrote lr.svg\n']);
    const svg = readFileSync(join(dir, 'lr.svg'), 'utf8');
    checkXml(svg);
    expect(markPaths(svg, 'line')).toBe(4 * 2); // 4 points x (loss, lr lambda / P)
    expect(svg.match(/class="mark-rule role-mark/g)).toHaveLength(1);
    expect(legendLabels(svg)).toEqual(expect.arrayContaining(['train.lr=0.5', 'train.lr=1']));
    expect(texts(svg)).toEqual(expect.arrayContaining(['gradient-descent step k', 'lr lambda_max(K(t)) / P']));
    // a gradient-flow result has no lrStability: refused naming it
    const flow = dmft('plot', '--sweep', 'sw', '--kind', 'stability', '--out', 'no.svg');
    expect(flow.status).toBe(2);
    expect(flow.stderr).toMatch(/no meta.lrStability/);
  });
});
