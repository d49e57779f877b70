/**
 * `npm run test:browser`: the worker pool in a real browser (Web Workers, not worker_threads). Bundles
 * dist/examples/browser/main.js and the worker scripts with esbuild into dist-browser/, serves them on
 * localhost, opens examples/browser/index.html in headless Chromium (playwright-core, the system's
 * /usr/bin/chromium: `apt-get install chromium` on Debian) and requires that an 8-seed ensemble and a
 * Monte Carlo solve in a pool of 2 Web Workers equal the in-page runs to the bit, and agree with the same runs
 * in Node (to rounding: see below). Exit 0 on success.
 */
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'dist-browser');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(executablePath)) {
  console.error(`test:browser: no Chromium at ${executablePath} (install Debian's chromium, or set CHROMIUM)`);
  process.exit(2);
}

await build({
  entryPoints: {
    main: join(root, 'dist/examples/browser/main.js'),
    'sim-worker': join(root, 'dist/workers/sim-worker.js'),
    'mc-worker': join(root, 'dist/workers/mc-worker.js'),
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  outdir: out,
  // Node's modules are only imported dynamically, behind the platform check of workers/platform.ts
  external: ['node:*'],
  logLevel: 'warning',
});
copyFileSync(join(root, 'examples/browser/index.html'), join(out, 'index.html'));

const types = { '.html': 'text/html', '.js': 'text/javascript' };
const server = createServer((req, res) => {
  const file = join(out, new URL(req.url, 'http://x').pathname);
  if (!file.startsWith(out) || !existsSync(file)) return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/index.html`;

const browser = await chromium.launch({
  executablePath,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  const handle = await page.waitForFunction(() => window.dmftResult, undefined, { timeout: 120_000 });
  const result = await handle.jsonValue();
  console.log(JSON.stringify(result));
  // The same problem in Node (examples/browser/config.ts). Another V8 may round Math.tanh or Math.exp
  // differently in the last bit: the simulation then differs by a few ulps, and the Monte Carlo solve by
  // about its per-step tolerance (solver.tol = 1e-6), because a step's fixed point may stop one sweep
  // earlier or later.
  const [{ browserConfig, browserEnsemble }, { simulate }, { solve }, { maxRelativeDifference: rel }] = await Promise.all(
    ['dist/examples/browser/config.js', 'dist/src/sim/ensemble.js', 'dist/src/dmft/solve.js', 'dist/src/dmft/observables.js'].map(
      (f) => import(join(root, f)),
    ),
  );
  const sim = simulate(browserConfig(), browserEnsemble),
    mc = solve(browserConfig());
  const simRel = Math.max(rel(result.sim.trainLoss, sim.trainLoss), rel(result.sim.testLoss, sim.testLoss));
  const mcRel = Math.max(rel(result.mc.trainLoss, mc.trainLoss), rel(result.mc.testLoss, mc.testLoss));
  console.log(
    `browser vs Node: simulation ${simRel.toExponential(1)} (<= 1e-12), Monte Carlo ${mcRel.toExponential(1)} (<= 1e-4) relative`,
  );
  const node = simRel <= 1e-12 && mcRel <= 1e-4;
  failed = Boolean(result.error) || !result.simIdentical || !result.mcIdentical || !node || result.sim.trainLoss.length !== 5;
} finally {
  await browser.close();
  server.close();
}
console.log(failed ? 'test:browser FAILED' : 'test:browser passed: pool of 2 Web Workers = in-page runs to the bit, = Node to rounding');
process.exit(failed ? 1 : 0);
