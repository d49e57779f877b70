import type { Endpoint } from 'comlink';

/**
 * The one place that knows whether workers are Node worker_threads or browser Web Workers. Node modules
 * are imported dynamically so that a browser bundle never loads them.
 */
export interface WorkerHandle {
  endpoint: Endpoint;
  /** Stop the worker; no death is reported after this. */
  terminate(): Promise<unknown> | void;
  /** Keep the process alive while busy (Node); an idle pool never holds the process open. */
  busy(on: boolean): void;
}

export interface Platform {
  /** available cores: os.availableParallelism() in Node, navigator.hardwareConcurrency in browsers */
  cores: number;
  /**
   * Start a module worker; `died` is called once if it exits, throws uncaught or runs out of memory.
   * `maxMemoryMb` caps its heap (Node; browsers have no such control): past it the worker dies, not the process.
   */
  spawn(script: URL, died: (reason: string) => void, maxMemoryMb?: number): WorkerHandle;
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

export async function platform(): Promise<Platform> {
  return isNode ? nodePlatform() : browserPlatform();
}

/** The endpoint a worker script exposes its API on: its parentPort in Node, itself in a browser. */
export async function selfEndpoint(): Promise<Endpoint> {
  if (!isNode) return globalThis as unknown as Endpoint;
  const [{ parentPort }, nodeEndpoint] = await Promise.all([import('node:worker_threads'), adapter()]);
  if (!parentPort) throw new Error('not running in a worker thread');
  return nodeEndpoint(parentPort);
}

async function adapter() {
  return (await import('comlink/dist/esm/node-adapter.mjs')).default;
}

async function nodePlatform(): Promise<Platform> {
  const [{ Worker }, { availableParallelism }, nodeEndpoint] = await Promise.all([
    import('node:worker_threads'),
    import('node:os'),
    adapter(),
  ]);
  return {
    cores: availableParallelism(),
    spawn(script, died, maxMemoryMb) {
      const worker = new Worker(script, maxMemoryMb ? { resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb } } : {});
      worker.unref();
      let alive = true;
      const die = (reason: string) => {
        if (!alive) return;
        alive = false;
        died(reason);
      };
      worker.on('error', (e) => die(`uncaught ${e.name}: ${e.message}`));
      worker.on('messageerror', (e) => die(`message could not be deserialized: ${e.message}`));
      worker.on('exit', (code) => die(`exited with code ${code}`));
      return {
        endpoint: nodeEndpoint(worker),
        terminate: () => {
          alive = false;
          return worker.terminate();
        },
        busy: (on) => (on ? worker.ref() : worker.unref()),
      };
    },
  };
}

function browserPlatform(): Platform {
  return {
    cores: navigator.hardwareConcurrency || 1,
    spawn(script, died) {
      const worker = new Worker(script, { type: 'module' });
      let alive = true;
      const die = (reason: string) => {
        if (!alive) return;
        alive = false;
        worker.terminate();
        died(reason);
      };
      worker.addEventListener('error', (e) => die(`uncaught error: ${e.message}`));
      worker.addEventListener('messageerror', () => die('message could not be deserialized'));
      return {
        endpoint: worker,
        terminate: () => {
          alive = false;
          worker.terminate();
        },
        busy: () => {},
      };
    },
  };
}
