/**
 * A filesystem store in a fresh temp folder, the fixture most tests start from: `store` writes
 * into `dir`, and `cleanup()` removes the folder with everything in it.
 *
 * @example
 * let store: FileSystemStore, root: string, cleanup: () => Promise<void>;
 * beforeEach(async () => ({ store, dir: root, cleanup } = await fsStore('my-test')));
 * afterEach(() => cleanup());
 */
import { FileSystemStore } from '../../src/stores/fs.js';
import {
  HttpExposedFileSystemStore,
  type HttpExposedFileSystemStoreOptions,
} from '../../src/stores/http-exposed-fs.js';
import { removeDir, tempDir } from './tmp.js';

export interface StoreInTempDir<S> {
  store: S;
  /** The temp folder, the store's `path`. */
  dir: string;
  /** Removes `dir` and everything in it. */
  cleanup: () => Promise<void>;
}

/** The base URL the tests' FileSystemStores use unless they say otherwise. */
export const TEST_BASE_URL = 'http://static.example.com/';

/** A FileSystemStore in a new temp folder named after `label`, with `baseUrl` (default {@link TEST_BASE_URL}). */
export async function fsStore(label: string, baseUrl = TEST_BASE_URL): Promise<StoreInTempDir<FileSystemStore>> {
  const dir = await tempDir(label);
  return { store: new FileSystemStore({ path: dir, baseUrl }), dir, cleanup: () => removeDir(dir) };
}

/** An HttpExposedFileSystemStore in a new temp folder named after `label`, with `options` besides its path. */
export async function httpFsStore(
  label: string,
  options: Omit<HttpExposedFileSystemStoreOptions, 'path'> = {},
): Promise<StoreInTempDir<HttpExposedFileSystemStore>> {
  const dir = await tempDir(label);
  return { store: new HttpExposedFileSystemStore({ ...options, path: dir }), dir, cleanup: () => removeDir(dir) };
}
