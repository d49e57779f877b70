import * as z from 'zod';

/**
 * The solver.* options every method accepts (validated by src/core/config.ts); a method's own schema
 * (src/dmft/methods.ts) adds its options and may give these defaults.
 */
export const COMMON_OPTIONS = {
  method: z.string().optional(),
  seed: z.number().int().optional(),
  samples: z.number().int().positive().optional(),
  dt: z.number().positive().optional(),
  tol: z.number().positive().optional(),
  quadrature: z.number().int().optional(),
};
