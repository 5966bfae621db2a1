// Run by store-contract.test.ts under node:test, with no runner passed: the contract must find
// node:test by itself, and fail this store on exactly the checks it breaks.
import { Readable } from 'node:stream';
import { type ImageKey, ImageNotFoundError, StoreError } from '../../src/index.js';
import { storeContract } from '../../src/testing.js';
import { MemoryStore } from './memory-store.js';

/** Shows each chunk as it arrives (not atomic), and calls a missing file on delete an error. */
class LeakyStore extends MemoryStore {
  override async putFile(key: ImageKey, stream: Readable): Promise<void> {
    let written = Buffer.alloc(0);
    try {
      for await (const chunk of stream) {
        written = Buffer.concat([written, chunk as Buffer]);
        await super.putFile(key, Readable.from([written]));
      }
    } catch (error) {
      throw new StoreError('ERR_STORE_WRITE', `Writing failed: ${(error as Error).message}`, { cause: error });
    }
  }

  override async deleteFile(key: ImageKey): Promise<void> {
    if ((await this.statFile(key)) === null) throw new ImageNotFoundError('No such file to delete');
    await super.deleteFile(key);
  }
}

storeContract('LeakyStore', () => {
  const store = new LeakyStore();
  return { store, snapshot: () => [...store.files.keys()] };
});
