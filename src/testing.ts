/**
 * objection-imageattach/testing: the store contract suite every built-in store passes, to check a
 * store of your own under mocha or node:test. Loads no test runner of its own accord.
 */
export { storeContract } from './testing/store-contract.js';
export type { StoreUnderTest } from './testing/store-contract.js';
export type { TestFunctions } from './testing/test-functions.js';
export { failingStream, sampleKey } from './testing/samples.js';
