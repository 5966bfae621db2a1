/**
 * The four functions a test runner gives a suite, taken from the caller or found at call time, so
 * that the shipped suites run under mocha or node:test (or a runner of the same shape) without
 * importing one.
 */
import * as check from '../util/check.js';

/** What the suites need of a test runner: mocha's and node:test's fit. */
export interface TestFunctions {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: () => Promise<void> | void): unknown;
  beforeEach(body: () => Promise<void>): unknown;
  afterEach(body: () => Promise<void>): unknown;
}

const NAMES = ['describe', 'it', 'beforeEach', 'afterEach'] as const;

/**
 * `given` if passed (checked); else the runner's globals when all four are defined (as mocha
 * defines them); else node:test's, loaded only now, so that importing a suite loads no runner.
 * @throws InvalidArgumentError naming the one of the four that `given` lacks
 */
export function resolveTestFunctions(given?: TestFunctions): TestFunctions {
  if (given !== undefined) {
    for (const name of NAMES) {
      const value: unknown = (given as Partial<TestFunctions> | null)?.[name];
      check.func(value, `testFunctions.${name}`);
    }
    return given;
  }
  const globals = globalThis as Record<string, unknown>;
  if (NAMES.every((name) => typeof globals[name] === 'function')) return globals as unknown as TestFunctions;
  return process.getBuiltinModule('node:test');
}
