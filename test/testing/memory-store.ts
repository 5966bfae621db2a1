import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { type ImageKey, ImageNotFoundError, InvalidArgumentError, Store, StoreError } from 'objection-imageattach';

/** The file's name. The key arrives validated, its objectId a bigint. */
function nameOf({ objectType, objectId, width, height, mimetype }: ImageKey): string {
  return `${objectType}/${objectId}/${width}x${height}/${mimetype}`;
}

export class MemoryStore extends Store {
  readonly files = new Map<string, { key: ImageKey & { objectId: bigint }; bytes: Buffer }>();

  async putFile(key: ImageKey, stream: Readable): Promise<void> {
    const name = nameOf(key);
    let bytes: Buffer;
    try {
      bytes = await buffer(stream); // the whole file first: a failed stream stores nothing
    } catch (error) {
      throw new StoreError('ERR_STORE_WRITE', `Writing ${name} failed: ${(error as Error).message}`, { cause: error });
    }
    this.files.set(name, { key: { ...key, objectId: BigInt(key.objectId) }, bytes });
  }

  async getFile(key: ImageKey, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.files.get(nameOf(key));
    if (file === undefined) throw new ImageNotFoundError(`No image file ${nameOf(key)}`);
    if (range === undefined) return Readable.from([file.bytes]);
    if (!(range.end >= range.start))
      throw new InvalidArgumentError('range.end', 'an integer >= range.start', range.end);
    return Readable.from([file.bytes.subarray(range.start, range.end + 1)]);
  }

  getUrl(key: ImageKey): string {
    return `memory:///${nameOf(key)}`;
  }

  async deleteFile(key: ImageKey): Promise<void> {
    this.files.delete(nameOf(key));
  }

  async statFile(key: ImageKey): Promise<{ size: number } | null> {
    const file = this.files.get(nameOf(key));
    return file === undefined ? null : { size: file.bytes.length };
  }

  async *listFiles() {
    for (const { key } of this.files.values()) yield key;
  }
}
