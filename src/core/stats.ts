/** Mean and standard error over independent runs (seeds, replicas), as every sampled result reports them. */

export function meanOf(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Standard error of the mean: sample standard deviation / sqrt(n); 0 for one run (not estimated). */
export function semOf(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1) / n);
}

/** semOf at each position of equally long rows (one row per run). */
export function pointwiseSem(rows: readonly (readonly number[])[]): number[] {
  return rows[0].map((_, k) => semOf(rows.map((r) => r[k])));
}
