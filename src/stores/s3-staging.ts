/**
 * The staging area of an S3 store (see `staging.ts`): `[prefix/].staging/<token>.stage` holds the
 * bytes, `<token>.json` the note. A replacement uploads there, so the committed object is never
 * overwritten before the commit; after it, one server-side CopyObject puts the bytes in place
 * (atomic for readers: they see the old object or the new one) and the staged pair is deleted.
 * Objects under `.staging/` have a name this layout never makes, so listings skip them.
 *
 * The bucket is shared by every host, so a token names its host too (a pid means nothing on
 * another one): see `isOrphaned` in `entity/staged-writes.ts`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type {
  GetObjectCommandOutput,
  ListObjectsV2CommandOutput,
  MetadataDirective,
  ObjectCannedACL,
  StorageClass,
} from '@aws-sdk/client-s3';
import { ImageNotFoundError } from '../errors.js';
import { Deadline, type S3Access, sendWithin } from './s3-deadline.js';
import { encodeRfc3986 } from './s3-presign.js';
import { s3Sdk } from './s3-sdk.js';
import { type ObjectHeaders, uploadObject } from './s3-upload.js';
import type { ImageKey } from './keys.js';
import { HOST_TAG, PROCESS_TAG, type StagedEntry, type StagedNote, type StagingArea } from './staging.js';

const ENTRY = /^([0-9a-f]{8})-(\d+)-([0-9a-f]+)-([0-9a-f]+)\.json$/;

export class S3StagingArea implements StagingArea {
  /** The key prefix of the area, with its trailing slash. */
  readonly dir: string;
  /** The notes this process wrote, so promoting its own writes reads none back. */
  private readonly notes = new Map<string, StagedNote>();

  constructor(
    private readonly access: S3Access,
    prefix: string,
    /** The headers of an object of `mimetype` (its storage class as `reproducible` says). */
    private readonly headersFor: (mimetype: string, reproducible: boolean) => ObjectHeaders,
    /** The object name of a key (it validates the key). */
    private readonly objectKey: (key: ImageKey) => string,
  ) {
    this.dir = prefix === '' ? '.staging/' : `${prefix}/.staging/`;
  }

  private newToken(): string {
    return `${HOST_TAG}-${process.pid}-${PROCESS_TAG}-${randomBytes(8).toString('hex')}`;
  }

  private dataName(token: string): string {
    return `${this.dir}${token}.stage`;
  }

  private noteName(token: string): string {
    return `${this.dir}${token}.json`;
  }

  /** Writes the note, then the bytes (a note without bytes is harmless, bytes without a note are lost). */
  async stage(key: ImageKey, data: Readable | string, note: StagedNote): Promise<string> {
    this.objectKey(key);
    const token = this.newToken();
    await this.writeNote(token, note);
    this.notes.set(token, note);
    try {
      const stream = typeof data === 'string' ? createReadStream(data) : data;
      // Staged bytes live for the length of a transaction: the default storage class (no minimum duration).
      await uploadObject(this.access, this.dataName(token), stream, {
        ...this.headersFor(note.key.mimetype, false),
        StorageClass: undefined,
      });
    } catch (error) {
      await this.discard(token).catch(() => {
        // The upload's failure is the one to report; a note left behind is settled later as "not committed".
      });
      throw error;
    }
    return token;
  }

  private async writeNote(token: string, note: StagedNote): Promise<void> {
    const { PutObjectCommand } = s3Sdk();
    const name = this.noteName(token);
    await sendWithin(
      this.access,
      new PutObjectCommand({
        Bucket: this.access.bucket,
        Key: name,
        Body: JSON.stringify(note),
        ContentType: 'application/json',
      }),
      { bucket: this.access.bucket, key: name, operation: 'PutObject' },
    );
  }

  /**
   * Copies the staged bytes to the object of `key` (server side), then deletes the staged pair.
   * Bytes already gone (another process settled them): nothing to copy.
   */
  async promote(key: ImageKey, token: string): Promise<void> {
    const objectName = this.objectKey(key);
    const note = this.notes.get(token) ?? (await this.readNote(token));
    if (note !== undefined) {
      const { CopyObjectCommand } = s3Sdk();
      const headers = this.headersFor(note.key.mimetype, note.reproducible === true);
      const source = `${this.access.bucket}/${this.dataName(token).split('/').map(encodeRfc3986).join('/')}`;
      try {
        await sendWithin(
          this.access,
          new CopyObjectCommand({
            Bucket: this.access.bucket,
            Key: objectName,
            CopySource: source,
            MetadataDirective: 'REPLACE' as MetadataDirective,
            ContentType: headers.ContentType,
            CacheControl: headers.CacheControl,
            StorageClass: headers.StorageClass as StorageClass | undefined,
            ACL: headers.ACL as ObjectCannedACL | undefined,
          }),
          { bucket: this.access.bucket, key: objectName, operation: 'CopyObject' },
        );
      } catch (error) {
        if (!(error instanceof ImageNotFoundError)) throw error;
      }
    }
    await this.discard(token);
  }

  /** Deletes the bytes, then the note. Idempotent. */
  async discard(token: string): Promise<void> {
    await this.deleteObject(this.dataName(token));
    await this.deleteObject(this.noteName(token));
    this.notes.delete(token);
  }

  async abandon(token: string): Promise<void> {
    const note = await this.readNote(token);
    if (note !== undefined) await this.writeNote(token, { ...note, abandoned: true });
  }

  async list(): Promise<StagedEntry[]> {
    const { ListObjectsV2Command } = s3Sdk();
    const entries: StagedEntry[] = [];
    let continuation: string | undefined;
    do {
      const page = await sendWithin<ListObjectsV2CommandOutput>(
        this.access,
        new ListObjectsV2Command({ Bucket: this.access.bucket, Prefix: this.dir, ContinuationToken: continuation }),
        { bucket: this.access.bucket, key: this.dir, operation: 'ListObjectsV2' },
      );
      for (const object of page.Contents ?? []) {
        const match = ENTRY.exec(object.Key?.slice(this.dir.length) ?? '');
        if (!match) continue;
        entries.push({
          token: `${match[1]}-${match[2]}-${match[3]}-${match[4]}`,
          host: match[1]!,
          pid: Number(match[2]),
          processTag: match[3]!,
          stagedAt: object.LastModified,
        });
      }
      continuation = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuation !== undefined);
    return entries;
  }

  async readNote(token: string): Promise<StagedNote | undefined> {
    try {
      return JSON.parse(await text(await this.getObject(this.noteName(token)))) as StagedNote;
    } catch (error) {
      // Gone (settled meanwhile) or not a note we wrote: not an entry.
      if (error instanceof ImageNotFoundError || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** The staged bytes, to read back inside their transaction. */
  open(token: string): Promise<Readable> {
    return this.getObject(this.dataName(token));
  }

  private async getObject(name: string): Promise<Readable> {
    const { GetObjectCommand } = s3Sdk();
    const deadline = new Deadline(this.access.timeout, {
      bucket: this.access.bucket,
      key: name,
      operation: 'GetObject',
    });
    try {
      const out = await this.access.client.send(new GetObjectCommand({ Bucket: this.access.bucket, Key: name }), {
        abortSignal: deadline.signal,
      });
      return deadline.guard((out as GetObjectCommandOutput).Body as Readable);
    } catch (error) {
      deadline.clear();
      throw deadline.failure(error);
    }
  }

  private async deleteObject(name: string): Promise<void> {
    const { DeleteObjectCommand } = s3Sdk();
    try {
      await sendWithin(this.access, new DeleteObjectCommand({ Bucket: this.access.bucket, Key: name }), {
        bucket: this.access.bucket,
        key: name,
        operation: 'DeleteObject',
      });
    } catch (error) {
      // S3 answers 204 for a missing object; some compatible services answer 404. Both mean "gone".
      if (!(error instanceof ImageNotFoundError)) throw error;
    }
  }
}
