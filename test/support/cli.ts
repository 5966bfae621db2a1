/**
 * The real `objection-imageattach` executable for tests: node + tsx on src/cli.ts, in a child
 * process, with what it printed and how it ended.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (configs written for the CLI live inside it, where node finds knex). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO, 'src', 'cli.ts');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  /** Gives access to the child before it ends (to kill it, say). */
  started?: (child: ChildProcess) => void;
  /** Shell text after the command (`| head -1`): the CLI then runs under bash. */
  shell?: string;
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const spawnOptions = {
      cwd: REPO,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
    };
    const command = [process.execPath, '--import', 'tsx', CLI, ...args].map((a) => JSON.stringify(a)).join(' ');
    const child =
      options.shell === undefined
        ? spawn(process.execPath, ['--import', 'tsx', CLI, ...args], spawnOptions)
        : spawn('bash', ['-c', `${command} ${options.shell}`], spawnOptions);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    options.started?.(child);
  });
}
