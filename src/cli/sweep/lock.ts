import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import lockfile from 'proper-lockfile';
import { InputError } from '../../core/errors.js';

/**
 * The lock of a sweep directory, held by the one process that writes it:
 *   sweep.lock       proper-lockfile's lock: a directory made by an atomic mkdir (safe on NFS too), its mtime
 *                    refreshed every UPDATE_MS; one not refreshed for STALE_MS is stale and taken over
 *   sweep.lock.json  the holder { pid, host, since, command }, for messages and for taking over at once the
 *                    lock of a holder on this host whose pid is gone (a SIGKILL leaves the lock behind)
 */
const LOCK = 'sweep.lock';
const HOLDER = 'sweep.lock.json';
const STALE_MS = 30_000;
const UPDATE_MS = 5_000;
const POLL_MS = 500;

export interface Holder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

export interface DirLock {
  /** Remove the lock (synchronous, so that a signal handler can call it); a second call does nothing. */
  release(): void;
}

export interface LockOptions {
  /** the option naming the directory in messages (--out) */
  field: string;
  /** what holds it, e.g. "dmft sweep run" */
  command: string;
  /** wait for the holder instead of refusing */
  wait?: boolean;
  /** told of a wait, a stale lock taken over, a lock lost */
  warn?: (line: string) => void;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readHolder(dir: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, HOLDER), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/** Whether a process of this host is running (EPERM: it is, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const describe = (h: Holder | undefined) =>
  h ? `pid ${h.pid} on host ${h.host} since ${h.since} (${h.command})` : 'another process (it has not said which)';

const lockMtime = (path: string) => {
  try {
    return statSync(path).mtime;
  } catch {
    return undefined;
  }
};

/** Who holds `dir` if anyone does (a fresh lock): the holder's description, for a warning. */
export function lockedBy(dir: string): string | undefined {
  const abs = resolve(dir);
  const mtime = lockMtime(join(abs, LOCK));
  if (!mtime || mtime.getTime() < Date.now() - STALE_MS) return undefined;
  const h = readHolder(abs);
  if (h && h.host === hostname() && !alive(h.pid)) return undefined;
  return describe(h);
}

/**
 * Lock `dir` (made if missing) for this process. A live holder is refused with an InputError naming it
 * (or waited for, with `wait`); a stale lock is taken over with a warning.
 */
export async function lockDir(dir: string, opts: LockOptions): Promise<DirLock> {
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const abs = resolve(dir);
  const lockPath = join(abs, LOCK);
  try {
    mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw new InputError(opts.field, `cannot create ${dir} (${(e as Error).message})`);
  }
  let waiting = false;
  for (;;) {
    const seen = readHolder(abs);
    const seenMtime = lockMtime(lockPath);
    try {
      await lockfile.lock(abs, {
        lockfilePath: lockPath,
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        onCompromised: (e) => {
          // another process took the lock over (ours was not refreshed in time) or it was deleted: stop writing
          warn(`dmft: lost the lock on ${dir} (${e.message}); stopping so that one process writes it`);
          process.exit(1);
        },
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw new InputError(opts.field, `cannot lock ${dir} (${(e as Error).message})`);
      if (seen && seen.host === hostname() && seen.pid !== process.pid && !alive(seen.pid)) {
        warn(`dmft: taking over the lock of ${dir} from ${describe(seen)}: that process is gone`);
        rmSync(lockPath, { recursive: true, force: true });
        continue;
      }
      if (!opts.wait) throw new InputError(opts.field, `${dir} is locked by ${describe(seen)}; --wait waits for it`);
      if (!waiting) warn(`dmft: waiting for the lock on ${dir}, held by ${describe(seen)}`);
      waiting = true;
      await sleep(POLL_MS);
      continue;
    }
    if (seenMtime) warn(`dmft: took over the stale lock of ${dir} from ${describe(seen)}: not refreshed since ${iso(seenMtime)}`);
    break;
  }
  const me: Holder = { pid: process.pid, host: hostname(), since: iso(new Date()), command: opts.command };
  const holderFile = join(abs, HOLDER);
  writeFileSync(`${holderFile}.tmp-${process.pid}`, JSON.stringify(me) + '\n');
  renameSync(`${holderFile}.tmp-${process.pid}`, holderFile);
  let released = false;
  const dropHolder = () => {
    const h = readHolder(abs);
    if (h && h.pid === me.pid && h.host === me.host && h.since === me.since) rmSync(holderFile, { force: true });
  };
  // proper-lockfile removes its lock on any exit; the holder file goes with it
  process.on('exit', dropHolder);
  return {
    release() {
      if (released) return;
      released = true;
      process.off('exit', dropHolder);
      dropHolder();
      try {
        lockfile.unlockSync(abs, { lockfilePath: lockPath, realpath: false });
      } catch {
        // already gone (compromised or removed by hand): nothing to release
      }
    },
  };
}
