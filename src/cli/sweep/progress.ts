import cliProgress from 'cli-progress';
import { isoNow } from '../io.js';

/**
 * Progress of a sweep on standard error: a bar with ETA on a terminal, else one line per finished point
 * (for logs: ISO time, count, percent, the point, its seconds, ETA); nothing when quiet.
 */
export interface Progress {
  done(label: string, failed: boolean, seconds: number): void;
  stop(): void;
}

/** Seconds as hh:mm:ss (hours past 99 as they are). */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

export function progress(total: number, { quiet = false } = {}): Progress {
  const stderr = process.stderr;
  if (quiet) return { done: () => {}, stop: () => {} };
  if (!stderr.isTTY) {
    let n = 0;
    const started = performance.now();
    return {
      done: (label, failed, seconds) => {
        n++;
        const elapsed = (performance.now() - started) / 1000;
        const eta = (elapsed / n) * (total - n);
        stderr.write(
          `${isoNow()} sweep [${n}/${total}] ${Math.floor((100 * n) / total)}% ${label}${failed ? ' FAILED' : ''} ${seconds.toFixed(1)} s, ETA ${clock(eta)}\n`,
        );
      },
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr,
      format: 'sweep {bar} {value}/{total} points | {duration_formatted} elapsed | ETA {eta_formatted} | {last}',
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { last: '' });
  return {
    done: (label, failed) => bar.increment({ last: `${label}${failed ? ' FAILED' : ''}` }),
    stop: () => bar.stop(),
  };
}
