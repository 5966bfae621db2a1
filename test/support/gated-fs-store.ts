/**
 * A real filesystem store (staging and all) that can stop the next write of a key at a gate: a
 * replacement's transaction stopped there holds the set's locks, with the old rows deleted and
 * the new ones inserted, and the test runs what it wants meanwhile.
 */
import { FileSystemStore, type FileStat, type ImageKey } from '../../src/index.js';
import type { gate } from './hooked-store.js';

export class GatedFileSystemStore extends FileSystemStore {
  /** The gate the next write of a key that `which` picks stops at (once), before any byte is written. */
  holdNext: { gate: ReturnType<typeof gate>; which: (key: ImageKey) => boolean } | undefined;

  /** The gate the next swap of staged bytes into place stops at (once): after the COMMIT, before the rename. */
  holdNextPromotion: ReturnType<typeof gate> | undefined;

  constructor(...args: ConstructorParameters<typeof FileSystemStore>) {
    super(...args);
    const staging = super.staging!;
    const promote = staging.promote.bind(staging);
    staging.promote = async (key: ImageKey, token: string): Promise<void> => {
      const held = this.holdNextPromotion;
      if (held !== undefined) {
        this.holdNextPromotion = undefined;
        await held.wait();
      }
      return promote(key, token);
    };
  }

  // The ledger asks whether the file is there before each write (putFile is left alone, so the
  // store still stages a replacement of the same key).
  override async statFile(key: ImageKey): Promise<FileStat | null> {
    const held = this.holdNext;
    if (held !== undefined && held.which(key)) {
      this.holdNext = undefined;
      await held.gate.wait();
    }
    return super.statFile(key);
  }
}
