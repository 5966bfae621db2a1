#!/usr/bin/env node
/**
 * The `objection-imageattach` executable (package `bin`). `--help` lists the commands, their
 * options and the exit codes; src/cli/program.ts holds the wiring.
 */
import { run } from './cli/program.js';

const code = await run(process.argv.slice(2));
// Let stdout drain before exiting (a pipe may still hold the last write on some systems); the
// explicit exit then ends any pool or timer a user's config left running.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
