import * as Comlink from 'comlink';
import { ConvergenceError, InputError } from '../src/core/errors.js';
import { platform, type WorkerHandle } from './platform.js';

/**
 * A pool of module workers (Node worker_threads or browser Web Workers) speaking comlink. A task is a
 * named call on a worker's API; tasks queue until a worker is free.
 * - A task whose function throws fails at once (no retry: tasks are deterministic) with that error,
 *   named by the task (see taskError).
 * - A worker that dies under a task (exit, uncaught error, out of memory) is replaced and the task is
 *   retried once on the fresh worker; a second death fails the task with a TaskError naming it.
 * - An aborted signal rejects the task with the signal's reason at once: queued, it is dropped;
 *   running, its worker is terminated (and replaced when needed).
 */
export interface PoolOptions {
  /** number of workers; default: the available cores */
  size?: number;
  /** heap limit of each worker in MB (Node): a worker over it dies like any other, not the process */
  maxMemoryMb?: number;
  /** told of every worker death, before the retry (retrying) or the failure */
  onCrash?: (task: string, reason: string, retrying: boolean) => void;
}

export interface TaskOptions {
  signal?: AbortSignal;
}

export type Remote<API> = Comlink.Remote<API>;
/**
 * Arguments are copied to the worker; transfer(value, [buffers]) moves them instead. The caller's copy is
 * detached, which also makes all later typed-array code of the caller's thread slower (see expose.ts): worth it
 * only for large arguments sent from a thread that does no numerical work itself.
 */
export { transfer } from 'comlink';

export class TaskError extends Error {
  constructor(
    readonly task: string,
    readonly reason: string,
  ) {
    super(`${task}: ${reason}`);
    this.name = 'TaskError';
  }
}

interface Task<API> {
  name: string;
  call: (worker: Remote<API>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  deaths: number;
  slot?: Slot<API>;
}

interface Slot<API> {
  handle: WorkerHandle;
  remote: Remote<API>;
  task?: Task<API>;
}

type Spawn = (died: (reason: string) => void) => WorkerHandle;

export class Pool<API> {
  private readonly slots: Slot<API>[] = [];
  private readonly queue: Task<API>[] = [];
  private closed = false;

  constructor(
    private readonly spawnWorker: Spawn,
    readonly size: number,
    private readonly onCrash?: PoolOptions['onCrash'],
  ) {
    if (!Number.isInteger(size) || size < 1) throw new InputError('workers', `expected an integer >= 1, got ${size}`);
  }

  /** Run `call` on a free worker; `name` identifies the task in errors. */
  run<R>(name: string, call: (worker: Remote<API>) => Promise<R>, { signal }: TaskOptions = {}): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.closed) return reject(new TaskError(name, 'the pool is closed'));
      if (signal?.aborted) return reject(signal.reason);
      const task: Task<API> = { name, call, resolve: resolve as (v: unknown) => void, reject, signal, deaths: 0 };
      if (signal) {
        task.onAbort = () => this.abort(task);
        signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.queue.push(task);
      this.pump();
    });
  }

  /**
   * Run `count` tasks, task i named name(i); their results in task order, whatever order they finish in.
   * `onDone(finished)` counts finished tasks; the first task to fail (or `signal`) stops the others.
   */
  async runAll<R>(
    count: number,
    name: (i: number) => string,
    call: (worker: Remote<API>, i: number) => Promise<R>,
    { signal, onDone }: TaskOptions & { onDone?: (finished: number) => void } = {},
  ): Promise<R[]> {
    const failed = new AbortController();
    const stop = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
    // one signal per task, all aborted by one listener on `stop` (not `count` listeners on one signal, which
    // Node reports as a possible leak past 10)
    const each = Array.from({ length: count }, () => new AbortController());
    const abortAll = () => each.forEach((c) => c.abort(stop.reason));
    stop.addEventListener('abort', abortAll, { once: true });
    if (stop.aborted) abortAll();
    let finished = 0;
    try {
      return await Promise.all(
        each.map((c, i) =>
          this.run(name(i), (w) => call(w, i), { signal: c.signal }).then((r) => {
            onDone?.(++finished);
            return r;
          }),
        ),
      );
    } catch (e) {
      failed.abort();
      throw e;
    } finally {
      stop.removeEventListener('abort', abortAll);
    }
  }

  /** Terminate all workers; running and queued tasks fail. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.slots.map((s) => s.task).filter((t) => t !== undefined);
    for (const task of [...running, ...this.queue.splice(0)])
      this.finish(task, () => task.reject(new TaskError(task.name, 'the pool was closed')));
    await Promise.all(this.slots.splice(0).map((s) => s.handle.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.task);
      if (!slot) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      this.start(slot, this.queue.shift()!);
    }
  }

  private spawn(): Slot<API> {
    const handle = this.spawnWorker((reason) => this.died(slot, reason));
    const slot: Slot<API> = { handle, remote: Comlink.wrap<API>(handle.endpoint) };
    this.slots.push(slot);
    return slot;
  }

  private start(slot: Slot<API>, task: Task<API>): void {
    slot.task = task;
    task.slot = slot;
    slot.handle.busy(true);
    // a call that throws before returning its promise fails like one that rejects
    new Promise((resolve) => resolve(task.call(slot.remote))).then(
      (value) => this.settle(slot, task, () => task.resolve(value)),
      (error) => this.settle(slot, task, () => task.reject(taskError(task.name, error))),
    );
  }

  /** A task's call returned; ignored if the task has since been aborted or its worker died. */
  private settle(slot: Slot<API>, task: Task<API>, done: () => void): void {
    if (slot.task !== task) return;
    slot.task = undefined;
    slot.handle.busy(false);
    this.finish(task, done);
    this.pump();
  }

  private died(slot: Slot<API>, reason: string): void {
    this.remove(slot);
    const task = slot.task;
    if (task) {
      slot.task = task.slot = undefined;
      const retrying = ++task.deaths < 2 && !this.closed;
      this.onCrash?.(task.name, reason, retrying);
      if (retrying) this.queue.unshift(task);
      else this.finish(task, () => task.reject(new TaskError(task.name, `worker died (${reason}), also on the retry`)));
    }
    this.pump();
  }

  private abort(task: Task<API>): void {
    const slot = task.slot;
    if (slot) {
      slot.task = task.slot = undefined;
      this.remove(slot);
      void slot.handle.terminate();
    } else this.queue.splice(this.queue.indexOf(task), 1);
    this.finish(task, () => task.reject(task.signal!.reason));
    this.pump();
  }

  private remove(slot: Slot<API>): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
  }

  private finish(task: Task<API>, done: () => void): void {
    if (task.onAbort) task.signal!.removeEventListener('abort', task.onAbort);
    done();
  }
}

/**
 * A task's own error, named by the task. ConvergenceError keeps its class (exit code 3); an InputError
 * keeps its class and field, without the task name: bad input is the same whichever task meets it.
 */
function taskError(task: string, e: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (err.name === 'ConvergenceError') return new ConvergenceError(`${task}: ${err.message}`);
  const colon = err.message.indexOf(': ');
  if (err.name === 'InputError' && colon > 0) return new InputError(err.message.slice(0, colon), err.message.slice(colon + 2));
  return new TaskError(task, err.message);
}

/** A pool of workers running `script` (a compiled module, e.g. new URL('./sim-worker.js', import.meta.url)). */
export async function createPool<API>(script: URL, options: PoolOptions = {}): Promise<Pool<API>> {
  const p = await platform();
  return new Pool<API>((died) => p.spawn(script, died, options.maxMemoryMb), options.size ?? p.cores, options.onCrash);
}
