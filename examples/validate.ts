/**
 * `npm run validate [-- NAME...]`: the long validations (full sizes) against the independent reference
 * curves and the finite-width simulator. NAME is any of sim, dmft, gd, gd-mc, mc, mc-relu, mc-precise, mc-wide,
 * mc-131072, mc-kernel-swap. The default is all but gd-mc (gradient descent in the Monte Carlo DMFT, about an
 * hour), mc-relu (the relu rows of mc alone), mc-wide (one case against width 3000), mc-131072 (that case at
 * 131072 samples) and mc-kernel-swap (a diagnostic of the open relu case). Each prints a markdown table; the
 * README quotes them.
 */
import { kernelSwap } from './kernel-swap.js';
import { validateDmft } from './validate-dmft.js';
import { validateGd } from './validate-gd.js';
import { validateGdMc } from './validate-gd-mc.js';
import { validateMc, validateMc131072, validateMcPrecise, validateMcRelu, validateMcWide, validationConfig } from './validate-mc.js';
import { validateSim } from './validate-sim.js';

const onRow = (row: string) => console.error(row);
const validations: Record<string, () => Promise<string>> = {
  sim: validateSim,
  dmft: () => validateDmft(onRow),
  gd: () => validateGd(onRow),
  'gd-mc': () => validateGdMc([], onRow),
  mc: () => validateMc(onRow),
  'mc-relu': () => validateMcRelu(onRow),
  'mc-precise': () => validateMcPrecise(onRow),
  'mc-wide': () => validateMcWide(onRow),
  'mc-131072': () => validateMc131072(onRow),
  'mc-kernel-swap': () => kernelSwap(validationConfig(2, 'relu', 1.5), { width: 1500, seeds: 10 }),
};
const names = process.argv.slice(2);
for (const name of names)
  if (!(name in validations)) {
    console.error(`validate: unknown validation ${JSON.stringify(name)} (known: ${Object.keys(validations).join(', ')})`);
    process.exit(2);
  }
for (const name of names.length
  ? names
  : Object.keys(validations).filter((n) => !['mc-relu', 'mc-wide', 'mc-131072', 'mc-kernel-swap', 'gd-mc'].includes(n))) {
  console.log(`\n## ${name}\n`);
  console.log(await validations[name]());
}
