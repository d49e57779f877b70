/**
 * `npm run bench [-- NAME...]`: the benchmarks of the issues, each printing its own table.
 * NAME is any of sim, dmft, mc, workers (default: all). Run on a quiet machine: timings are wall-clock.
 */
import { benchDmft } from './dmft.js';
import { benchMc } from './mc.js';
import { benchSim } from './sim.js';
import { benchWorkers } from './workers.js';

const benches: Record<string, () => Promise<string>> = { sim: benchSim, dmft: benchDmft, mc: benchMc, workers: benchWorkers };
const names = process.argv.slice(2);
for (const name of names)
  if (!(name in benches)) {
    console.error(`bench: unknown benchmark ${JSON.stringify(name)} (known: ${Object.keys(benches).join(', ')})`);
    process.exit(2);
  }
for (const name of names.length ? names : Object.keys(benches)) {
  console.log(`\n## ${name}\n`);
  console.log(await benches[name]());
}
