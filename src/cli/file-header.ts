/**
 * `verify --deep`: what a stored file's bytes say it is (type and dimensions, from its header),
 * against what its row says. It catches a file replaced by other bytes under the row's key, which
 * a mere existence check passes.
 */
import { buffer } from 'node:stream/consumers';
import { sharp } from '../imaging/sharp.js';
import { mimetypeOf } from '../imaging/probe.js';
import type { ImageKey } from '../stores/keys.js';
import type { FileStat, Store } from '../stores/store.js';
import { checked } from '../stores/checked-calls.js';

/** Bytes read first: every header the library writes or accepts fits (EXIF included), bar odd files. */
const HEAD_BYTES = 256 * 1024;

/** What a file's header says; `mimetype` is undefined for bytes that are no image the library takes. */
export interface HeaderFacts {
  mimetype: string | undefined;
  width: number;
  height: number;
  /** The size as displayed (EXIF orientation applied), when it differs. */
  displayWidth: number;
  displayHeight: number;
}

/**
 * Reads the header of the file of `key`, whose `stat` was just taken (its first 256 KiB; the
 * whole file if the header runs longer).
 */
export async function readStoredHeader(store: Store, key: ImageKey, stat: FileStat): Promise<HeaderFacts> {
  const whole = stat.size <= HEAD_BYTES;
  const head = await buffer(await checked(store).getFile(key, whole ? undefined : { start: 0, end: HEAD_BYTES - 1 }));
  try {
    return await facts(head);
  } catch {
    // Not an image at all, or a header running past the first bytes (a huge EXIF block).
    if (whole) return unreadable();
  }
  try {
    return await facts(await buffer(await checked(store).getFile(key)));
  } catch {
    // sharp reads no image in these bytes.
    return unreadable();
  }
}

async function facts(bytes: Buffer): Promise<HeaderFacts> {
  const metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  return {
    mimetype: mimetypeOf(metadata),
    width,
    height,
    displayWidth: metadata.autoOrient?.width ?? width,
    displayHeight: metadata.autoOrient?.height ?? height,
  };
}

function unreadable(): HeaderFacts {
  return { mimetype: undefined, width: 0, height: 0, displayWidth: 0, displayHeight: 0 };
}

/**
 * How the header disagrees with the row's key, in words, or undefined when it agrees. The size
 * matches when it is the stored or the displayed one (rows of images with an EXIF orientation
 * may record either, depending on which library wrote them).
 */
export function headerMismatch(key: ImageKey, found: HeaderFacts): string | undefined {
  if (found.mimetype === undefined) return 'the file is no image of a known type';
  const sizeMatches =
    (found.width === key.width && found.height === key.height) ||
    (found.displayWidth === key.width && found.displayHeight === key.height);
  if (found.mimetype === key.mimetype && sizeMatches) return undefined;
  return `the file is ${found.mimetype} ${found.displayWidth}x${found.displayHeight}`;
}
