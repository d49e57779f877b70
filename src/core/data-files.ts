import { parse as parseCsv } from 'csv-parse/browser/esm/sync';
import { InputError } from './errors.js';

/**
 * Data arrays read from files named in a config (`data.X`: "train.npy"): .npy (float64 or float32, C order,
 * either byte order) or .csv (no header, one row per point). Browser-safe: the bytes come from the caller's
 * `readFile`; only the decoding is here.
 */

export interface FileOptions {
  /** Reads a whole file (Node: fs.readFileSync); without it a path in `data` is refused. */
  readFile?: (path: string) => Uint8Array;
  /** Directory relative paths are resolved against: the config file's. */
  baseDir?: string;
}

/** What the field holds: rows of points (X, Xtest) or one number per point (y, ytest). */
export type Shape = 'matrix' | 'vector';

const isAbsolute = (p: string) => p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(p);

/** `path` relative to `baseDir` (joined with '/', which Node accepts on every platform). */
export function resolvePath(path: string, baseDir?: string): string {
  if (isAbsolute(path) || !baseDir || baseDir === '.') return path;
  return `${baseDir.replace(/[\\/]+$/, '')}/${path}`;
}

function readBytes(field: string, path: string, options: FileOptions): Uint8Array {
  if (!options.readFile)
    throw new InputError(
      field,
      `${JSON.stringify(path)} is a file path, but this config was parsed without a file reader (give the array inline, or pass parseConfig(raw, { readFile, baseDir }) as the command line does)`,
    );
  const full = resolvePath(path, options.baseDir);
  try {
    return options.readFile(full);
  } catch (e) {
    throw new InputError(field, `cannot read ${full} (${fileErrorReason(e)})`);
  }
}

/** The array in the file `path` (a .npy or .csv), checked to be 2-d (matrix) or 1-d / n x 1 (vector). */
export function readArray(field: string, path: string, shape: Shape, options: FileOptions): number[][] | number[] {
  const ext = /\.([^./\\]+)$/.exec(path)?.[1]?.toLowerCase();
  if (ext !== 'npy' && ext !== 'csv')
    throw new InputError(field, `expected an array or the path of a .npy or .csv file, got ${JSON.stringify(path)}`);
  const bytes = readBytes(field, path, options);
  const name = resolvePath(path, options.baseDir);
  return ext === 'npy' ? npyArray(field, name, bytes, shape) : csvArray(field, name, bytes, shape);
}

// ---- .npy (format versions 1.0, 2.0, 3.0 of numpy's NEP 1) ----

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

function npyHeader(field: string, name: string, b: Uint8Array): NpyHeader {
  const bad = (why: string) => new InputError(field, `${name} is not a valid .npy file (${why})`);
  if (b.length < 10 || MAGIC.some((m, i) => b[i] !== m)) throw bad('it does not start with the magic string \\x93NUMPY');
  const major = b[6],
    minor = b[7];
  if (major < 1 || major > 3) throw bad(`format version ${major}.${minor}; versions 1.0, 2.0 and 3.0 are read`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const start = major === 1 ? 10 : 12;
  if (b.length < start) throw bad('truncated header');
  const len = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + len > b.length) throw bad('truncated header');
  // v1/v2 headers are latin-1, v3 UTF-8; the keys and values read here are ASCII in both
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(b.subarray(start, start + len)).trim();
  if (!text.startsWith('{') || !text.endsWith('}')) throw bad('the header is not a dictionary');
  const key = (k: string) => `['"]${k}['"]\\s*:\\s*`;
  const descr = new RegExp(`${key('descr')}(?:'([^']*)'|"([^"]*)")`).exec(text);
  const fortran = new RegExp(`${key('fortran_order')}(True|False)`).exec(text);
  const shape = new RegExp(`${key('shape')}\\(([^)]*)\\)`).exec(text);
  if (!descr) {
    if (new RegExp(`${key('descr')}\\[`).test(text))
      throw new InputError(field, `${name} has a structured dtype; expected float64 or float32 ('<f8' or '<f4')`);
    throw bad("no 'descr' in the header");
  }
  if (!fortran) throw bad("no 'fortran_order' in the header");
  if (!shape) throw bad("no 'shape' in the header");
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!dims.every((s) => /^\d+L?$/.test(s))) throw bad(`shape (${shape[1]}) is not a tuple of integers`);
  return {
    descr: descr[1] ?? descr[2],
    fortranOrder: fortran[1] === 'True',
    shape: dims.map((s) => Number(s.replace('L', ''))),
    dataOffset: start + len,
  };
}

const KIND_NAMES: Record<string, string> = {
  i: 'int',
  u: 'uint',
  f: 'float',
  c: 'complex',
  b: 'bool',
  U: 'unicode',
  S: 'bytes',
  O: 'object',
  M: 'datetime64',
  m: 'timedelta64',
  V: 'void',
};

function dtypeName(descr: string): string {
  const m = /^[<>|=]?([a-zA-Z])(\d*)/.exec(descr);
  if (!m) return `'${descr}'`;
  const bits = m[2] && 'iufc'.includes(m[1]) ? String(8 * Number(m[2])) : '';
  const order = descr[0] === '>' ? ', big-endian' : '';
  return `'${descr}' (${KIND_NAMES[m[1]] ?? 'unknown'}${bits}${order})`;
}

const shapeText = (s: number[]) => `(${s.join(', ')}${s.length === 1 ? ',' : ''})`;

function npyArray(field: string, name: string, b: Uint8Array, want: Shape): number[][] | number[] {
  const h = npyHeader(field, name, b);
  const dt = /^([<>])f([48])$/.exec(h.descr);
  if (!dt)
    throw new InputError(
      field,
      `${name} has dtype ${dtypeName(h.descr)}; expected float64 or float32 ('<f8' or '<f4'; np.save(path, a.astype(np.float64)))`,
    );
  const little = dt[1] === '<',
    size = Number(dt[2]);
  const ndim = h.shape.length;
  if (want === 'matrix' && ndim !== 2)
    throw new InputError(
      field,
      `${name} holds an array of shape ${shapeText(h.shape)} (${ndim}-d); expected a 2-d array (points x input dimension D)`,
    );
  if (want === 'vector' && !(ndim === 1 || (ndim === 2 && h.shape[1] === 1)))
    throw new InputError(
      field,
      `${name} holds an array of shape ${shapeText(h.shape)}; expected a 1-d array (one target per point) or n x 1`,
    );
  // an n x 1 or 1-d array reads the same in either order; only a true matrix needs C order
  if (h.fortranOrder && ndim === 2 && h.shape[0] > 1 && h.shape[1] > 1)
    throw new InputError(
      field,
      `${name} is in Fortran order (fortran_order: True); expected C order (np.save(path, np.ascontiguousarray(a)))`,
    );
  const count = h.shape.reduce((p, n) => p * n, 1);
  const have = b.length - h.dataOffset;
  if (have !== count * size)
    throw new InputError(
      field,
      `${name} has ${have} bytes of data; shape ${shapeText(h.shape)} of float${8 * size} needs ${count * size} (a truncated or damaged file)`,
    );
  const view = new DataView(b.buffer, b.byteOffset + h.dataOffset, have);
  const at = size === 8 ? (i: number) => view.getFloat64(8 * i, little) : (i: number) => view.getFloat32(4 * i, little);
  if (want === 'vector') return Array.from({ length: count }, (_, i) => at(i));
  const [rows, cols] = h.shape;
  return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => at(r * cols + c)));
}

// ---- .csv ----

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function csvArray(field: string, name: string, b: Uint8Array, want: Shape): number[][] | number[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    throw new InputError(field, `${name} is not UTF-8 text (expected a .csv file of numbers)`);
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsv(text, {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      record_delimiter: ['\r\n', '\n', '\r'],
      info: true,
    }) as unknown as typeof records;
  } catch (e) {
    throw new InputError(field, `${name} cannot be parsed as CSV (${(e as Error).message})`);
  }
  const rows = records.map(({ record, info }) =>
    record.map((cell, c) => {
      if (!NUMBER.test(cell)) {
        const got = cell === '' ? 'an empty cell' : JSON.stringify(cell.length > 20 ? cell.slice(0, 20) + '…' : cell);
        throw new InputError(
          field,
          `${name} line ${info.lines}, column ${c + 1}: expected a number, got ${got}${info.lines === 1 ? ' (the file must have no header line)' : ''}`,
        );
      }
      return Number(cell);
    }),
  );
  if (want === 'matrix') return rows;
  return rows.map((r, i) => {
    if (r.length !== 1)
      throw new InputError(
        field,
        `${name} line ${records[i].info.lines}: expected one value per line (one target per point), got ${r.length}`,
      );
    return r[0];
  });
}

/** A file system error in a few words: no such file, is a directory, permission denied, or its own message. */
export function fileErrorReason(e: unknown): string {
  const code = (e as { code?: string }).code;
  return code === 'ENOENT'
    ? 'no such file'
    : code === 'EISDIR'
      ? 'is a directory'
      : code === 'EACCES'
        ? 'permission denied'
        : (e as Error).message;
}
