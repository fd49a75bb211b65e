import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr for anything longer than a second; silent when stderr is not a
 * terminal or when machine output (--json) is requested, so pipes get clean output.
 */
export interface ProgressBar {
  update(done: number, total: number, extra?: { fps?: number }): void;
  stop(): void;
}

export function createProgressBar(label: string, enabled: boolean): ProgressBar {
  if (!enabled || !process.stderr.isTTY) {
    return { update() {}, stop() {} };
  }
  const startedAt = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(done, total, extra) {
      // Only show once the work has run for a second: short jobs stay quiet.
      if (!bar && Date.now() - startedAt < 1000) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {value}/{total} frames | {fps} fps | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done, { fps: '-' });
      }
      bar.setTotal(total);
      bar.update(done, { fps: extra?.fps !== undefined ? extra.fps.toFixed(1) : '-' });
    },
    stop() {
      bar?.stop();
    },
  };
}
