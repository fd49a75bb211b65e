// Runs the CLI from source (tests must not depend on a possibly stale dist/ build).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv);
