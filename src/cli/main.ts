import { Command, CommanderError, Option } from 'commander';
import { InputError } from '../errors.js';
import { runDemo } from './demo.js';
import { runEval } from './eval.js';
import { runFlow } from './flow.js';
import { runInfo } from './info.js';
import { runPropagate } from './propagate.js';
import { runTrain } from './train.js';

/** Entry point of the `vprop` command. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // `vprop ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = new Command('vprop')
    .description('Propagate key-frame annotations (masks, colour, HDR, labels) through video.')
    .showHelpAfterError()
    .exitOverride();

  let code = 0;
  const run = (fn: () => Promise<number | undefined>) => async () => {
    code = (await fn()) ?? 0;
  };

  program
    .command('demo')
    .description('generate a synthetic scene, propagate its first-frame masks, write palette PNGs and an overlay mp4, print J&F')
    .option('--out <dir>', 'output folder', 'vprop-demo')
    .option('--seed <n>', 'scene seed', '7')
    .option('--frames <n>', 'number of frames', '60')
    .option('--size <WxH>', 'frame size', '320x240')
    .option('--engine <name>', 'engine (default: the best available)')
    .option('--json', 'machine-readable summary on stdout')
    .action((o) => run(() => runDemo(o))());

  program
    .command('eval')
    .description('score predictions against ground truth (DAVIS J/F, colour PSNR, HDR log errors, label mIoU)')
    .addOption(new Option('--task <task>', 'what is evaluated').choices(['mask', 'color', 'hdr', 'labels']).default('mask'))
    .requiredOption('--pred <dir>', 'predictions: a sequence folder, a folder of sequence folders, or a DAVIS root')
    .requiredOption('--gt <dir>', 'ground truth, same layouts')
    .addOption(new Option('--protocol <p>', 'DAVIS protocol for masks').choices(['auto', '2016', '2017']).default('auto'))
    .option('--max-frames <n>', 'colour/hdr: only the first N frames of each sequence (VPN protocol: 25)')
    .option('--classes <n>', 'labels: number of classes (default: from the ground truth)')
    .option('--frames <dir>', 'labels: video frames (same layout) for the temporal-consistency measure along estimated motion')
    .option('--json', 'machine-readable results on stdout')
    .action((o) => run(() => runEval(o))());

  program
    .command('info')
    .description('describe a video, image folder, DAVIS sequence, mask PNG, EXR or Radiance file')
    .argument('<file>')
    .option('--json', 'machine-readable output')
    .action((file, o) => run(() => runInfo(file, o))());

  program
    .command('propagate')
    .description('propagate key-frame annotations through a video')
    .argument('<source>', 'video file, image folder, or DAVIS sequence (root::sequence)')
    .addOption(new Option('--task <task>').choices(['mask', 'color', 'labels', 'hdr']).default('mask'))
    .option('--engine <name>', 'propagation engine', 'copy')
    .addOption(new Option('--refine <what>', 'post-processing of masks').choices(['none', 'crf']).default('none'))
    .option(
      '--keyframes <list>',
      'key-frames: "INDEX:FILE,..." or a folder of annotation files named by frame number; DAVIS default: frame 0',
    )
    .addOption(new Option('--direction <d>').choices(['forward', 'backward', 'both']).default('both'))
    .option('--from <n>', 'first frame to output')
    .option('--to <n>', 'last frame to output (inclusive)')
    .option('--max-internal-size <px>', 'longest side the engine works at')
    .requiredOption('--out <dir>', 'output folder')
    .option('--no-video', 'do not write the overlay / colour mp4')
    .option(
      '--per-frame <dir>',
      "flowgru: per-frame estimates, one file per frame: label PNGs or .npy (C,H,W) probabilities / scores (a static predictor's output, or another run's --probabilities)",
    )
    .option('--probabilities', 'mask / labels: also write the soft maps as probabilities/NNNNN.npy (float16, C x H x W)')
    .option('--option <key=value...>', 'engine options (repeatable)')
    .option('--json', 'machine-readable summary on stdout')
    .action((source, o) => run(() => runPropagate(source, o))());

  program
    .command('flow')
    .description('optical flow between two images: Middlebury .flo plus a colour-coded PNG')
    .argument('<a>', 'first image')
    .argument('<b>', 'second image')
    .requiredOption('--out <file.flo>', 'output .flo file')
    .option('--png <file>', "colour-coded PNG (default: the .flo path with .png; 'none' to skip)")
    .addOption(new Option('--backend <b>').choices(['auto', 'dis', 'farneback']).default('auto'))
    .addOption(new Option('--preset <p>', 'DIS preset').choices(['fast', 'medium']).default('medium'))
    .option('--backward', "flow from B to A on B's grid (GRFP convention) instead of A to B")
    .option('--max-flow <px>', 'flow magnitude of full colour saturation in the PNG')
    .option('--json', 'machine-readable summary on stdout')
    .action((a, b, o) => run(() => runFlow(a, b, o))());

  program
    .command('train')
    .description('train a learned model with PyTorch (needs a repository checkout and python3-torch)')
    .argument('[method]', 'what to train', 'grfp')
    .option('--models <list>', 'comma-separated targets (default: all)')
    .option('--steps <n>', 'training steps per model')
    .option('--python <path>', 'Python with torch and onnx (default $VPROP_PYTHON or /usr/bin/python3)')
    .option('--nice <n>', 'nice level of the training processes')
    .option('--dry-run', 'print the plan and exit')
    .action((method, o) => run(() => runTrain({ ...o, method }))());

  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    const msg = err instanceof InputError ? err.message : err instanceof Error ? err.message : String(err);
    process.stderr.write(`vprop: ${msg}\n`);
    if (process.env.VPROP_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
