import cliProgress from 'cli-progress';

/** Progress of a sweep on standard error: a bar with ETA on a terminal, else one line per finished point. */
export interface Progress {
  done(label: string, failed: boolean): void;
  stop(): void;
}

export function progress(total: number): Progress {
  const stderr = process.stderr;
  if (!stderr.isTTY) {
    let n = 0;
    return {
      done: (label, failed) => stderr.write(`[${++n}/${total}] ${label}${failed ? ' FAILED' : ''}\n`),
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream: stderr, format: 'sweep {bar} {value}/{total} points | {duration_formatted} elapsed | ETA {eta_formatted} | {last}', etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { last: '' });
  return {
    done: (label, failed) => bar.increment({ last: `${label}${failed ? ' FAILED' : ''}` }),
    stop: () => bar.stop(),
  };
}
