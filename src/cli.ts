#!/usr/bin/env node
/**
 * The `objection-imageattach` executable (package `bin`). `--help` lists the commands, their
 * options and the exit codes; src/cli/program.ts holds the wiring.
 */
import { run } from './cli/program.js';

// A reader that went away (`objection-imageattach --help | head -1`) is no error worth a stack
// trace: stop quietly, with the status of a program ended by SIGPIPE (128 + 13), as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(141);
    throw error;
  });
}

const code = await run(process.argv.slice(2));
// Let stdout drain before exiting (a pipe may still hold the last write on some systems); the
// explicit exit then ends any pool or timer a user's config left running.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
