import { recordTimes, type Config, type Train } from './config.js';

/** When to evaluate: times of gradient flow, or step counts of gradient descent with rate lr (t = k lr). */
export type Schedule = { kind: 'flow'; t: readonly number[] } | { kind: 'gd'; lr: number; steps: readonly number[] };

/** The schedule of train.record: its evenly spaced times (flow) or steps (gradient descent). */
export function scheduleOf(train: Train): Schedule {
  const { t, steps } = recordTimes(train);
  return train.kind === 'flow' ? { kind: 'flow', t } : { kind: 'gd', lr: train.lr, steps: steps! };
}

/** All points of a config, train first then test. */
export function allInputs(cfg: Config): number[][] {
  return cfg.data.Xtest ? [...cfg.data.X, ...cfg.data.Xtest] : cfg.data.X;
}
