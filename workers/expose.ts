import * as Comlink from 'comlink';
import { ConvergenceError, InputError } from '../src/core/errors.js';
import { selfEndpoint } from './platform.js';

/**
 * Worker side of a pool: expose `api` (an object of functions) on this worker's endpoint. Return values are
 * copied (structured clone), not transferred: detaching any ArrayBuffer invalidates V8's array-buffer-detaching
 * protector for the whole isolate, after which all typed-array code in it runs slower (docs/PERFORMANCE.md,
 * "Workers"). Results are small (a replica's
 * run is ~0.4 MB, copied in < 1 ms). Errors keep their kind across the boundary (see pool.ts).
 */
export type WorkerApi = Record<string, (...args: never[]) => unknown>;

export async function exposeWorker(api: WorkerApi): Promise<void> {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(api))
    wrapped[name] = async (...args) => {
      try {
        return await fn(...args);
      } catch (e) {
        throw portable(e);
      }
    };
  Comlink.expose(wrapped, await selfEndpoint());
}

/** Comlink sends an error's name and message: name it by the class the caller maps back (ConvergenceError exits 3). */
function portable(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const err = new Error(e.message);
  err.name = e instanceof ConvergenceError ? 'ConvergenceError' : e instanceof InputError ? 'InputError' : e.name;
  return err;
}
