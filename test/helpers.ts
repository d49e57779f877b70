// Helpers the test files share: configs of small synthetic problems, the check that an input is refused, and
// runs of the compiled command line in a temporary directory. Each takes the test's own numbers as arguments:
// the data of a test stays in the test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { parseConfig, type Config } from '../src/core/config.js';
import { InputError } from '../src/core/errors.js';

/** The fields of data.synthetic: P training and Ptest test points in dimension D from `seed`; kind single-index unless given. */
export interface Synthetic {
  kind?: 'linear' | 'single-index' | 'quadratic' | 'sum';
  P: number;
  Ptest: number;
  D: number;
  seed: number;
}

/** The `data` section of a config for a synthetic problem: `{ synthetic: { kind, P, Ptest, D, seed } }`. */
export function syntheticData({ kind = 'single-index', ...size }: Synthetic) {
  return { synthetic: { kind, ...size } };
}

/**
 * A raw config (the JSON a config file holds; parseConfig turns it into a Config) of the synthetic problem `data`,
 * with `sections` as given: model and train, and solver, output, ... where a test needs them.
 */
export function rawConfig<S extends { model: object; train: object }>(data: Synthetic, sections: S) {
  return { data: syntheticData(data), ...sections };
}

/** rawConfig parsed by src/core/config.ts: the Config the library's functions take. */
export function parsedConfig(data: Synthetic, sections: { model: object; train: object; [section: string]: unknown }): Config {
  return parseConfig(rawConfig(data, sections));
}

/**
 * The InputError that `f` throws, with its `field`, `reason` and one-line `message` ("field: reason"); the test fails
 * if `f` throws anything else or returns. `type` is the class to expect: the compiled one for tests of dist/.
 */
export function refusal(f: () => unknown, type: abstract new (...args: never[]) => Error = InputError): InputError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as InputError;
  }
  throw new Error('accepted: expected an InputError');
}

/** The compiled command line, dist/src/cli.js (npm test builds it first). */
export const CLI = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

/** A finished run of the command line: its exit status (null if a signal ended it), stdout and stderr. */
export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/src/cli.js ...args` to its end: in `cwd` (default: this process's), with `input` on its stdin and
 * `env` added to this process's environment.
 */
export function runCli(args: string[], { cwd, input, env }: { cwd?: string; input?: string; env?: Record<string, string> } = {}): CliRun {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, input, encoding: 'utf8', env: env && { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A new empty directory `dmft-<name>-XXXXXX` in the system's temporary directory. */
export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `dmft-${name}-`));
}

/** Writes `content` to `dir/name`, a string or bytes as they are and anything else as JSON; returns the file's path. */
export function writeIn(dir: string, name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content));
  return path;
}
