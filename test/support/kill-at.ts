/**
 * Crash tests: a child process runs a script that prints a word at each instant worth dying at,
 * and the test kills it with SIGKILL when it says the one chosen.
 */
import { spawn } from 'node:child_process';

/** Runs `script` (TypeScript, through tsx) with `args` until it says `word`, then kills it with SIGKILL. */
export async function killAt(script: string, args: string[], word: string): Promise<void> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child never said ${word}: ${stderr}`)), 60000);
    proc.stdout.on('data', (d: Buffer) => {
      if (d.toString().split('\n').includes(word)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${code}) before saying ${word}: ${stderr}`));
    });
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGKILL');
  await exited;
}
