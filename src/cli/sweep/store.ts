import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Result } from '../../core/result.js';
import { InputError } from '../../core/errors.js';

/**
 * A sweep's output directory:
 *   sweep.json      { id, sweep }: which sweep the directory belongs to
 *   results.jsonl   one line per finished point, appended whole with one write (a kill loses at most a
 *                   torn last line, dropped on the next open); a later line for a point replaces an earlier one
 *                   (a retried point), and a run rewrites the file with one line per point
 *   sweep.lock(.json)  the lock of the process writing the directory (lock.ts)
 *   summary.csv     one row per finished point, sorted by index; rewritten atomically (temp file + rename)
 *   curves.csv      the finished points' curves in long form (one row per point and recorded time), likewise
 */
export interface PointRecord {
  index: number;
  key: string;
  kind: string;
  params: Record<string, unknown>;
  seconds: number;
  result?: Result;
  error?: string;
}

export interface Manifest {
  id: string;
  sweep: unknown;
}

const MANIFEST = 'sweep.json';
const RESULTS = 'results.jsonl';
const SUMMARY = 'summary.csv';
const CURVES = 'curves.csv';

export function readManifest(dir: string): Manifest | undefined {
  const file = join(dir, MANIFEST);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (e) {
    throw new InputError(file, `not a sweep manifest (${(e as Error).message})`);
  }
}

/** Make `dir` the home of the sweep `manifest`, refusing a directory that holds another sweep. */
export function claim(dir: string, manifest: Manifest, field: string, { quiet = false } = {}): void {
  const held = readManifest(dir);
  if (held && held.id !== manifest.id)
    throw new InputError(
      field,
      `${dir} holds the results of a different sweep (id ${held.id}, this one is ${manifest.id}); use another directory`,
    );
  if (held) return;
  try {
    mkdirSync(dir, { recursive: true });
    atomicWrite(join(dir, MANIFEST), JSON.stringify(manifest) + '\n');
  } catch (e) {
    throw new InputError(field, `cannot write ${join(dir, MANIFEST)} (${(e as Error).message})`);
  }
  if (!quiet) process.stderr.write(`wrote ${join(dir, MANIFEST)}\n`);
}

export interface Records {
  /** the last record of each point, by key */
  records: Map<string, PointRecord>;
  /** lines of the file replaced by a later line for the same point */
  duplicates: number;
}

/**
 * The records of `dir`, the last per point, by key; a torn last line (a kill mid-write) is skipped, and
 * cut off the file with `repair` (only the directory's writer may: another process may be mid-write).
 */
export function readRecords(dir: string, { repair = true } = {}): Records {
  const file = join(dir, RESULTS);
  const records = new Map<string, PointRecord>();
  let duplicates = 0;
  if (!existsSync(file)) return { records, duplicates };
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  if (repair && end < text.length) truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  text
    .slice(0, end)
    .split('\n')
    .slice(0, -1)
    .forEach((line, i) => {
      let r: PointRecord;
      try {
        r = JSON.parse(line) as PointRecord;
      } catch {
        throw new InputError(`${file}:${i + 1}`, 'not a JSON line (the file was edited or damaged)');
      }
      if (records.has(r.key)) duplicates++;
      records.set(r.key, r);
    });
  return { records, duplicates };
}

export function appendRecord(dir: string, record: PointRecord): void {
  appendFileSync(join(dir, RESULTS), JSON.stringify(record) + '\n');
}

/** Replace results.jsonl with `records` (temp file + rename). */
export function writeRecords(dir: string, records: readonly PointRecord[]): void {
  atomicWrite(join(dir, RESULTS), records.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** summary.csv: index, kind, the grid axes, final losses, seconds, error; sorted by index. */
export function writeSummary(dir: string, records: Iterable<PointRecord>): void {
  const rows = [...records].sort((a, b) => a.index - b.index);
  const axes = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].filter((a) => a !== 'kind');
  const last = (xs?: number[]) => xs?.[xs.length - 1];
  const header = ['index', 'kind', ...axes, 'trainLoss', 'testLoss', 'trainLossSem', 'testLossSem', 'seconds', 'error'];
  const lines = rows.map((r) =>
    [
      r.index,
      r.kind,
      ...axes.map((a) => r.params[a]),
      last(r.result?.trainLoss),
      last(r.result?.testLoss),
      last(r.result?.trainLossSem),
      last(r.result?.testLossSem),
      r.seconds,
      r.error,
    ]
      .map(csvCell)
      .join(','),
  );
  atomicWrite(join(dir, SUMMARY), [header.join(','), ...lines].join('\n') + '\n');
  writeCurves(dir, rows, axes);
}

/** curves.csv, long form: index, kind, the grid axes, then one row per recorded time of each finished point. */
function writeCurves(dir: string, rows: readonly PointRecord[], axes: readonly string[]): void {
  const curves = ['t', 'trainLoss', 'trainLossSem', 'testLoss', 'testLossSem'] as const;
  const lines = rows.flatMap((r) => {
    const res = r.result;
    if (!res) return [];
    const point = [r.index, r.kind, ...axes.map((a) => r.params[a])];
    return res.t.map((_, k) => [...point, ...curves.map((c) => res[c]?.[k])].map(csvCell).join(','));
  });
  atomicWrite(join(dir, CURVES), [['index', 'kind', ...axes, ...curves].join(','), ...lines].join('\n') + '\n');
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
