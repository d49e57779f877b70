import * as Comlink from 'comlink';
import { ConvergenceError, InputError } from '../src/core/errors.js';
import { selfEndpoint } from './platform.js';

/**
 * Worker side of a pool: expose `api` (an object of functions) on this worker's endpoint. Every return
 * value is sent with its Float64Array (and other typed array) buffers transferred, not copied: a result
 * belongs to the caller once returned. Errors keep their kind across the boundary (see pool.ts).
 */
export type WorkerApi = Record<string, (...args: never[]) => unknown>;

export async function exposeWorker(api: WorkerApi): Promise<void> {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(api))
    wrapped[name] = async (...args) => {
      try {
        const value = await fn(...args);
        const buffers = buffersOf(value);
        return buffers.length > 0 ? Comlink.transfer(value, buffers) : value;
      } catch (e) {
        throw portable(e);
      }
    };
  Comlink.expose(wrapped, await selfEndpoint());
}

/** The buffers of all typed arrays in a result (plain objects and arrays are searched). */
export function buffersOf(value: unknown, found = new Set<ArrayBuffer>()): ArrayBuffer[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) found.add(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'object' && v !== null) buffersOf(v, found);
  } else if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) buffersOf(v, found);
  }
  return [...found];
}

/** Comlink sends an error's name and message: name it by the class the caller maps back (ConvergenceError exits 3). */
function portable(e: unknown): Error {
  if (!(e instanceof Error)) return new Error(String(e));
  const err = new Error(e.message);
  err.name = e instanceof ConvergenceError ? 'ConvergenceError' : e instanceof InputError ? 'InputError' : e.name;
  return err;
}
