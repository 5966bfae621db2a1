/**
 * The HTTP suites run on both Express majors the package supports (peer range `^4.21.0 || ^5.0.0`):
 * `express` is 5, `express4` an aliased devDependency. A deprecation Express prints (through
 * `depd`, e.g. `express deprecated req.host`) fails the suite: with a `deprecation` listener on
 * the process, depd emits the event instead of printing.
 */
import express5 from 'express';
import express4 from 'express4';

export type ExpressFactory = typeof express5;

const DEPRECATIONS = Symbol.for('objection-imageattach.test.deprecations');

export const EXPRESS_MAJORS: ReadonlyArray<{ name: string; express: ExpressFactory }> = [
  { name: 'Express 5', express: express5 },
  { name: 'Express 4', express: express4 as unknown as ExpressFactory },
];

/**
 * Deprecations depd reported since the last check. One list and one listener per process, kept on
 * `globalThis`: mocha may load this module twice (through require and through import), and two
 * listeners would each keep what the other's caller already took.
 */
const deprecations: string[] = ((globalThis as { [DEPRECATIONS]?: string[] })[DEPRECATIONS] ??=
  listenForDeprecations());

function listenForDeprecations(): string[] {
  const seen: string[] = [];
  process.on('deprecation', (error: Error) => seen.push(`${error.name}: ${error.message}`));
  return seen;
}

/** Takes the deprecations reported so far. */
export function takeDeprecations(): string[] {
  return deprecations.splice(0);
}

/**
 * `describe(title)` once per Express major, the suite given that major's `express()`; after each
 * test, a deprecation reported meanwhile fails the run.
 */
export function forEachExpress(
  title: string,
  suite: (this: Mocha.Suite, express: ExpressFactory, major: string) => void,
): void {
  for (const { name, express } of EXPRESS_MAJORS) {
    describe(`${title} [${name}]`, function () {
      afterEach(function () {
        const seen = takeDeprecations();
        if (seen.length > 0)
          throw new Error(`deprecated calls during "${this.currentTest?.title}": ${seen.join('; ')}`);
      });
      suite.call(this, express, name);
    });
  }
}
