import type { Task } from '../core/types.js';
import { getTaskFiles } from '../tasks/files.js';
import { createProgressBar } from './progress.js';

interface EvalOptions {
  task: Task;
  pred: string;
  gt: string;
  protocol: 'auto' | '2016' | '2017';
  maxFrames?: number;
  classes?: number;
  frames?: string;
  json?: boolean;
  quiet?: boolean;
}

/** `vprop eval`: the task's measures as a terminal table, or everything as JSON. */
export async function runEval(o: EvalOptions): Promise<number> {
  const bar = createProgressBar('eval', !o.json && !o.quiet);
  try {
    const { result, table } = await getTaskFiles(o.task).evaluate(o.pred, o.gt, {
      protocol: o.protocol,
      maxFrames: o.maxFrames,
      classes: o.classes,
      frames: o.frames,
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.stop();
    process.stdout.write(`${o.json ? JSON.stringify(result, null, 2) : table}\n`);
  } finally {
    bar.stop();
  }
  return 0;
}
