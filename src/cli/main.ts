import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { isAbortError } from '../core/errors.js';
import { describeOptions } from '../core/options.js';
import { TASKS } from '../core/types.js';
import { engineRegistrations } from '../engines/index.js';
import { collect, idListArg, intArg, positiveArg, sizeArg } from './args.js';
import { runDemo } from './demo.js';
import { runEval } from './eval.js';
import { runFlow } from './flow.js';
import { runInfo } from './info.js';
import { runPropagate } from './propagate.js';
import { runTrain } from './train.js';

/** The package version (package.json two levels up from src/cli and from dist/cli). */
export function packageVersion(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
}

/** Engines with their tasks and options, for `--help` and `vprop engines`. */
export function enginesHelp(): string {
  const lines = ['Engines (--engine NAME; options with --option KEY=VALUE):'];
  for (const reg of engineRegistrations()) {
    lines.push(`  ${reg.name} [${reg.tasks.join(', ')}]: ${reg.description}`);
    lines.push(...describeOptions(reg.options, '      ').filter((l) => !l.includes('library only')));
  }
  return lines.join('\n');
}

/** Entry point of the `vprop` command. Returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  // `vprop ... | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = new Command('vprop')
    .description('Propagate key-frame annotations (masks, colour, HDR, labels) through video.')
    .version(packageVersion(), '-V, --version', 'print the version')
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
    .option('--seed <n>', 'scene seed', intArg(0), 7)
    .option('--frames <n>', 'number of frames', intArg(2, 100_000), 60)
    .option('--size <WxH>', 'frame size', sizeArg, { width: 320, height: 240 })
    .option('--engine <name>', 'engine (default: the best for masks)')
    .option('--json', 'machine-readable summary on stdout')
    .option('-q, --quiet', 'no progress bar or report')
    .action((o) => run(() => runDemo(o))());

  program
    .command('eval')
    .description('score predictions against ground truth (DAVIS J/F, colour PSNR, HDR log errors, label mIoU)')
    .addOption(new Option('--task <task>', 'what is evaluated').choices([...TASKS]).default('mask'))
    .requiredOption('--pred <dir>', 'predictions: a sequence folder, a folder of sequence folders, or a DAVIS root')
    .requiredOption('--gt <dir>', 'ground truth, same layouts')
    .addOption(new Option('--protocol <p>', 'DAVIS protocol for masks').choices(['auto', '2016', '2017']).default('auto'))
    .option('--max-frames <n>', 'colour/hdr: only the first N frames of each sequence (VPN protocol: 25)', intArg(1))
    .option('--classes <n>', 'labels: number of classes (default: from the ground truth)', intArg(2, 256))
    .option('--frames <dir>', 'labels: video frames (same layout) for the temporal-consistency measure along estimated motion')
    .option('--json', 'machine-readable results on stdout')
    .option('-q, --quiet', 'no progress bar')
    .action((o) => run(() => runEval(o))());

  program
    .command('info')
    .description('describe a video, image folder, DAVIS sequence, mask PNG, EXR or Radiance file')
    .argument('<file>')
    .option('--json', 'machine-readable output')
    .action((file, o) => run(() => runInfo(file, o))());

  program
    .command('engines')
    .description('list the engines, their tasks and options')
    .option('--json', 'machine-readable output')
    .action((o) =>
      run(async () => {
        if (o.json) {
          const list = engineRegistrations().map((r) => ({ name: r.name, description: r.description, tasks: r.tasks, options: r.options }));
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        } else process.stdout.write(`${enginesHelp()}\n`);
        return 0;
      })(),
    );

  program
    .command('propagate')
    .description('propagate key-frame annotations through one or more videos')
    .argument('<sources...>', 'video files, image folders, DAVIS sequences (root::sequence), or quoted globs; several write OUT/<name>/')
    .addOption(new Option('--task <task>').choices([...TASKS]).default('mask'))
    .option('--engine <name>', 'propagation engine (default: the best for the task; see below)')
    .option('--option <key=value>', 'engine option, repeatable (see below)', collect)
    .option(
      '--keyframes <list>',
      'key-frames: "INDEX:FILE,..." or a folder of annotation files named by frame number (with several sources, DIR/<name>/ when present); DAVIS default: its first annotation',
    )
    .addOption(
      new Option(
        '--keyframe-mode <mode>',
        'masks: add = a later mask adds or updates the objects it holds, the others keep propagating (YouTube-VOS, Cutie); replace = each mask is the whole truth of its frame',
      )
        .choices(['add', 'replace'])
        .default('add'),
    )
    .option('--remove-object <id:frame>', 'masks: object ID is absent from FRAME on (repeatable)', collect)
    .option('--allow-empty', 'accept key-frames with no object in them')
    .option(
      '--objects <ids>',
      'masks: object ids known up front (e.g. 1,2,5), needed to propagate a per-frame input without key-frames',
      idListArg,
    )
    .option('--classes <n>', 'labels: number of classes known up front, needed without key-frames', intArg(2, 256))
    .addOption(new Option('--direction <d>').choices(['forward', 'backward', 'both']).default('both'))
    .option('--refine <what>', "post-processing of masks and labels: 'crf' (DenseCRF) or 'none'", 'none')
    .option('--from <n>', 'first frame to output', intArg(0))
    .option('--to <n>', 'last frame to output (inclusive)', intArg(0))
    .option('--max-internal-size <px>', 'longest side the engine works at', intArg(16))
    .option(
      '--workers <n>',
      'threads preparing the next frames ahead of the propagation (default: cores - 1, at most 3; 0 = none)',
      intArg(0, 64),
    )
    .addOption(
      new Option(
        '--memory <policy>',
        "guides: 'previous' = the engine's own (the frames just propagated), 'selected' = memory selection (MSN) over every frame propagated so far",
      )
        .choices(['previous', 'selected'])
        .default('previous'),
    )
    .option('--top-k <k>', 'with --memory selected: propagate from the K best-scored guides, merged by confidence', intArg(1, 16), 1)
    .option(
      '--pool-cap <n>',
      'with --memory selected: frames kept as candidates (key-frames and the 8 newest frames always stay)',
      intArg(1, 100000),
      200,
    )
    .option('--with-previous', 'with --memory selected: always propagate from the frame just done as well (its own score as weight)')
    .option(
      '--selector <prefix>',
      'with --memory selected: a trained selector PREFIX-embed.onnx / PREFIX-head.onnx instead of the bundled one',
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--no-video', 'do not write the overlay / colour mp4')
    .option(
      '--per-frame <dir>',
      "flowgru, and vpn models that fuse them: per-frame estimates, one file per frame: label PNGs or .npy (C,H,W) probabilities / scores (a static predictor's output, or another run's --probabilities)",
    )
    .option('--probabilities', 'mask / labels: also write the soft maps as probabilities/NNNNN.npy (float16, C x H x W)')
    .option('--json', 'machine-readable summary on stdout')
    .option('-q, --quiet', 'no progress bar or summary (warnings and errors still go to stderr)')
    .addHelpText('after', `\n${enginesHelp()}`)
    .action((sources, o) => run(() => runPropagate(sources, o))());

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
    .option('--max-flow <px>', 'flow magnitude of full colour saturation in the PNG', positiveArg)
    .option('--json', 'machine-readable summary on stdout')
    .action((a, b, o) => run(() => runFlow(a, b, o))());

  program
    .command('serve')
    .description('the web app and the HTTP API (openapi.yaml): upload, key-frames, jobs with progress, downloads')
    .option('--host <addr>', 'address to listen on; anything but loopback needs --token', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', intArg(0, 65535), 8321)
    .option('--token <secret>', 'required on every API request (default $VPROP_TOKEN); needed with a non-loopback --host')
    .option('--data <dir>', 'uploads and job workspaces (shared with workers when --queue is given)', 'vprop-data')
    .option('--queue <url>', 'run jobs on BullMQ over Redis (redis://HOST:PORT) with `vprop worker` processes')
    .option('--concurrency <n>', 'in-process queue: jobs at a time', intArg(1, 64), 1)
    .option('--max-upload-mb <n>', 'largest upload', intArg(1), 2048)
    .option('--max-frames <n>', 'most frames per video', intArg(1), 10_000)
    .option('-q, --quiet', 'less output')
    // serve and worker load fastify and bullmq (about 0.7 s of start-up): imported by these commands only.
    .action((o) => run(async () => (await import('./serve.js')).runServe(o, packageVersion()))());

  program
    .command('worker')
    .description('run jobs of a `vprop serve --queue redis://...` server (any number of workers, any machine sharing --data)')
    .requiredOption('--queue <url>', 'redis://HOST:PORT')
    .requiredOption('--data <dir>', "the server's data folder (a shared file system when on another machine)")
    .option('--concurrency <n>', 'jobs at a time in this process', intArg(1, 64), 1)
    .option('--lock-ms <n>', "a dead worker's job is taken over this long after its last lock renewal", intArg(1000), 30_000)
    .option('--stalled-ms <n>', 'how often to look for jobs of dead workers', intArg(500), 30_000)
    .option('-q, --quiet', 'no log lines')
    .action((o) => run(async () => (await import('./serve.js')).runWorker(o))());

  program
    .command('train')
    .description('train a learned model with PyTorch (needs a repository checkout and python3-torch)')
    .argument('[method]', 'what to train: grfp, stpn, msn, vpn or propnet', 'grfp')
    .option('--models <list>', 'comma-separated targets (default: all)')
    .option('--steps <n>', 'training steps per model', intArg(1))
    .option('--python <path>', 'Python with torch and onnx (default $VPROP_PYTHON or /usr/bin/python3)')
    .option('--nice <n>', 'nice level of the training processes', intArg(-20, 19))
    .option('--dry-run', 'print the plan and exit')
    .action((method, o) => run(() => runTrain({ ...o, method }))());

  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (isAbortError(err)) {
      process.stderr.write('vprop: interrupted\n');
      return 130;
    }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`vprop: ${msg}\n`);
    if (process.env.VPROP_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
