/**
 * Filesystem stores with one thing added, for migration tests: they record what putFile was
 * given, hold writes back to show how many run at once, or damage one file on its way in.
 * Each is a real FileSystemStore underneath.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileSystemStore, type ImageKey, type PutFileOptions } from '../../src/index.js';

export function keyName(key: ImageKey): string {
  return `${key.objectType}/${key.objectId}/${key.width}x${key.height} ${key.mimetype}`;
}

/** Records every putFile call: the key and the `reproducible` flag it came with. */
export class RecordingStore extends FileSystemStore {
  readonly puts: Array<{ key: string; reproducible: boolean }> = [];

  override async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    this.puts.push({ key: keyName(key), reproducible: options.reproducible });
    return super.putFile(key, stream, options);
  }
}

/** Holds each write for `delayMs`, counting how many writes are under way at once. */
export class SlowStore extends RecordingStore {
  delayMs = 20;
  active = 0;
  maxActive = 0;

  override async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await sleep(this.delayMs);
      return await super.putFile(key, stream, options);
    } finally {
      this.active--;
    }
  }
}

/** Flips the first byte of the files whose key name `corrupt` matches, as a failing disk might. */
export class CorruptingStore extends RecordingStore {
  constructor(
    options: { path: string; baseUrl: string },
    readonly corrupt: (name: string) => boolean,
  ) {
    super(options);
  }

  override async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    if (!this.corrupt(keyName(key))) return super.putFile(key, stream, options);
    let first = true;
    const damage = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (first && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[0] = chunk[0]! ^ 0xff;
          first = false;
        }
        callback(null, chunk);
      },
    });
    // pipeline carries a failure of either side to the other; putFile sees it through `damage`.
    pipeline(stream, damage, () => {});
    return super.putFile(key, damage, options);
  }
}
