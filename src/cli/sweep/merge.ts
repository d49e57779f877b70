import { InputError } from '../../core/errors.js';
import { claim, readManifest, readRecords, writeRecords, writeSummary, type PointRecord } from './store.js';

/**
 * `dmft sweep merge DIR... --out DIR`: the records of shard directories of one sweep, as one directory
 * whose results.jsonl is sorted by point index (a point recorded twice keeps its last record, in the
 * order the directories are given). Returns the number of points merged.
 */
export function mergeSweeps(dirs: readonly string[], out: string): number {
  const manifests = dirs.map((dir) => {
    const m = readManifest(dir);
    if (!m) throw new InputError(dir, 'not a sweep directory (no sweep.json)');
    return m;
  });
  const other = manifests.findIndex((m) => m.id !== manifests[0].id);
  if (other >= 0) throw new InputError(dirs[other], `holds a different sweep (id ${manifests[other].id}) than ${dirs[0]} (id ${manifests[0].id})`);
  const merged = new Map<string, PointRecord>();
  for (const dir of dirs) for (const [key, r] of readRecords(dir)) merged.set(key, r);
  claim(out, manifests[0], '--out');
  const records = [...merged.values()].sort((a, b) => a.index - b.index);
  writeRecords(out, records);
  writeSummary(out, records);
  return records.length;
}
