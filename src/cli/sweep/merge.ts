import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { lockDir, lockedBy } from './lock.js';
import { expandPoints } from './points.js';
import type { Sweep } from './schema.js';
import { claim, readManifest, readRecords, writeRecords, writeSummary, type PointRecord } from './store.js';

export interface MergeSummary {
  /** points merged */
  merged: number;
  /** records of them that are errors */
  failed: number;
  /** points of the sweep (undefined if its manifest no longer expands) */
  total?: number;
  /** indices of the sweep's points no directory has */
  missing: number[];
  /** what to tell the user, one line */
  message: string;
}

/**
 * `dmft sweep merge DIR... --out DIR`: the records of shard directories of one sweep, as one directory
 * (locked while written) whose results.jsonl is sorted by point index (a point recorded twice keeps its
 * last record, in the order the directories are given). The summary names the sweep's points not merged.
 */
export async function mergeSweeps(dirs: readonly string[], out: string, opts: { wait?: boolean } = {}): Promise<MergeSummary> {
  const manifests = dirs.map((dir) => {
    const m = readManifest(dir);
    if (!m) throw new InputError(dir, 'not a sweep directory (no sweep.json)');
    return m;
  });
  const other = manifests.findIndex((m) => m.id !== manifests[0].id);
  if (other >= 0)
    throw new InputError(dirs[other], `holds a different sweep (id ${manifests[other].id}) than ${dirs[0]} (id ${manifests[0].id})`);
  const warn = (line: string) => process.stderr.write(`${line}\n`);
  const lock = await lockDir(out, { field: '--out', command: 'dmft sweep merge', wait: opts.wait, warn });
  try {
    const merged = new Map<string, PointRecord>();
    for (const dir of dirs) {
      const writer = lockedBy(dir);
      if (writer) warn(`dmft: ${dir} is still being written by ${writer}; merging the points it has so far`);
      const { records, duplicates } = readRecords(dir, { repair: false });
      if (duplicates > 0)
        warn(`dmft: ${join(dir, 'results.jsonl')}: ${duplicates} line(s) repeat a point recorded earlier; merged the last record of each`);
      for (const [key, r] of records) merged.set(key, r);
    }
    claim(out, manifests[0], '--out');
    const records = [...merged.values()].sort((a, b) => a.index - b.index);
    writeRecords(out, records);
    writeSummary(out, records);
    return summarize(manifests[0].sweep as Sweep, records, out);
  } finally {
    lock.release();
  }
}

function summarize(sweep: Sweep, records: PointRecord[], out: string): MergeSummary {
  const failed = records.filter((r) => r.error !== undefined).length;
  const count = `${records.length}${failed > 0 ? ` (${failed} failed)` : ''}`;
  let keys: string[];
  try {
    keys = expandPoints(sweep).map((p) => p.key);
  } catch {
    // a manifest written by another version that no longer expands: the count alone
    return { merged: records.length, failed, missing: [], message: `merged ${count} points into ${out}` };
  }
  const have = new Set(records.map((r) => r.key));
  const missing = keys.flatMap((k, i) => (have.has(k) ? [] : [i]));
  const total = keys.length;
  if (missing.length === 0)
    return { merged: records.length, failed, total, missing, message: `merged all ${count} points of the sweep into ${out}` };
  const shown = missing.slice(0, 20).join(', ') + (missing.length > 20 ? `, ... and ${missing.length - 20} more` : '');
  const guess = shardGuess(missing, total);
  const message = `merged ${records.length} of ${total} points${failed > 0 ? ` (${failed} failed)` : ''} into ${out}; missing: point${missing.length > 1 ? 's' : ''} ${shown}${guess ? ` (${guess}?)` : ''}`;
  return { merged: records.length, failed, total, missing, message };
}

/**
 * The shards i/n whose points are exactly the missing ones, for the smallest n (up to 256) with shards
 * of 2 points or more ("shard 2/2", "shards 1/4, 3/4"), if any.
 */
export function shardGuess(missing: readonly number[], total: number): string | undefined {
  const gone = new Set(missing);
  for (let n = 2; n <= Math.min(total / 2, 256); n++) {
    const residues = [...new Set(missing.map((i) => i % n))].sort((a, b) => a - b);
    if (residues.length === n) continue;
    const exact = Array.from({ length: total }, (_, i) => i).every((i) => residues.includes(i % n) === gone.has(i));
    if (exact) return `shard${residues.length > 1 ? 's' : ''} ${residues.map((r) => `${r + 1}/${n}`).join(', ')}`;
  }
  return undefined;
}
