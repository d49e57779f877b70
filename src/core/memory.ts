/**
 * Bytes this process can still allocate, as far as the platform tells: Node's process.availableMemory()
 * (free memory, or what is left of a container's limit); in a browser navigator.deviceMemory (the device's
 * memory in GB, rounded down, at most 8), half of it for the page; undefined when the platform does not say.
 */
export function availableMemory(): number | undefined {
  const proc = (globalThis as { process?: { availableMemory?: () => number } }).process;
  if (typeof proc?.availableMemory === 'function') return proc.availableMemory();
  const gb = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  return gb ? (gb * 2 ** 30) / 2 : undefined;
}

/** `bytes` as "7.1 GB" (or MB below a GB). */
export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${Math.ceil(bytes / 2 ** 20)} MB`;
}
