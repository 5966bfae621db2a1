/**
 * The library's calls into a store's implementer methods, each behind the key check: a store of
 * your own gets validated, normalised keys (`objectId` a bigint) from every layer, and never a bad
 * one. The caller methods (`store`, `open`, `locate`, `delete`) check on their own.
 */
import type { Readable } from 'node:stream';
import type { ImageKey, NormalizedKey } from './keys.js';
import { type ByteRange, type FileStat, type PutFileOptions, type Store, validKeyOf } from './store.js';

/** The keyed implementer methods of a store, as the library calls them. */
export interface CheckedCalls {
  putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void>;
  getFile(key: ImageKey, range?: ByteRange): Promise<Readable>;
  getUrl(key: ImageKey): string;
  deleteFile(key: ImageKey): Promise<void>;
  statFile(key: ImageKey): Promise<FileStat | null>;
  localPath(key: ImageKey): string | undefined;
  stagingPath(key: ImageKey): Promise<string | undefined>;
  putLocalFile(key: ImageKey, file: string, options: PutFileOptions): Promise<number>;
}

/**
 * `store`'s keyed methods, each validating its key before the store's own runs.
 * @throws InvalidArgumentError for a bad key (a promise rejects with it; a stream given is ended)
 */
export function checked(store: Store): CheckedCalls {
  return {
    async putFile(key, stream, options) {
      let valid: NormalizedKey;
      try {
        valid = validKeyOf(key);
      } catch (error) {
        // A stream handed over is the store's to end, whatever happens.
        stream.destroy();
        throw error;
      }
      return store.putFile(valid, stream, options);
    },
    getFile: async (key, range) => store.getFile(validKeyOf(key), range),
    getUrl: (key) => store.getUrl(validKeyOf(key)),
    deleteFile: async (key) => store.deleteFile(validKeyOf(key)),
    statFile: async (key) => store.statFile(validKeyOf(key)),
    localPath: (key) => store.localPath(validKeyOf(key)),
    stagingPath: async (key) => store.stagingPath(validKeyOf(key)),
    putLocalFile: async (key, file, options) => store.putLocalFile(validKeyOf(key), file, options),
  };
}
