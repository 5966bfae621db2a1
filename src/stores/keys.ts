/**
 * An image's identity in a store, and the rules every store shares about it: validation, the
 * mimetype → file-extension table, and the cache-busting timestamp. The layouts (filesystem
 * path, S3 key) live here too, so that both directions (key → name, name → key) sit side by side.
 */
import { ImageAttachError, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import { DatabaseTimestamp, parseDatabaseTimestamp, utcDigits } from './database-timestamp.js';

/** What a store needs to name one image file. */
export interface ImageKey {
  /** The image class's name in storage, e.g. `user-picture` (letters, digits, `.`, `_`, `-`). */
  objectType: string;
  /** The owner's integer id. A `bigint` where it must be exact (a UUID is a 128-bit integer). */
  objectId: bigint | number;
  width: number;
  height: number;
  mimetype: string;
}

/** An image as the caller-side store methods take it: a key plus its `original` flag and timestamp. */
export interface StoredImage extends ImageKey {
  original: boolean;
  /** When the row was created; drives the `?_ts=` cache buster. */
  created_at: Date | string | number;
}

/** A validated key: `objectId` is always a `bigint`. */
export interface NormalizedKey extends ImageKey {
  objectId: bigint;
}

/**
 * The fixed mimetype → extension table. `.jpe` for JPEG is kept on purpose: SQLAlchemy-ImageAttach
 * (Python < 3.3's `mimetypes`) stored JPEG files with it, and we must find those files again.
 */
const EXTENSIONS: ReadonlyMap<string, string> = new Map([
  ['image/jpeg', '.jpe'],
  ['image/png', '.png'],
  ['image/gif', '.gif'],
  ['image/webp', '.webp'],
  ['image/avif', '.avif'],
  ['image/svg+xml', '.svg'],
  ['image/tiff', '.tiff'],
  ['image/bmp', '.bmp'],
  // Not attachable here (sharp has no PDF decoder), but SQLAlchemy-ImageAttach stored PDF
  // originals: their rows must still locate, open, verify and migrate.
  ['application/pdf', '.pdf'],
]);

/**
 * Other extensions a file of a type may have been stored under, looked for when the expected one
 * is absent: SQLAlchemy-ImageAttach takes its extensions from Python's `mimetypes`, which named TIFF
 * `.tif` up to Python 3.6 (`.tiff` since 3.7).
 */
const ALTERNATE_EXTENSIONS: ReadonlyMap<string, readonly string[]> = new Map([['image/tiff', ['.tif']]]);

const MIMETYPES: ReadonlyMap<string, string> = new Map([
  ...[...EXTENSIONS].map(([type, ext]): [string, string] => [ext, type]),
  ...[...ALTERNATE_EXTENSIONS].flatMap(([type, exts]) => exts.map((ext): [string, string] => [ext, type])),
]);

/** The mimetypes a store can name, in table order. */
export const KNOWN_MIMETYPES: readonly string[] = [...EXTENSIONS.keys()];

/**
 * The file extension (with its dot) for `mimetype`.
 * @throws ImageAttachError `ERR_UNKNOWN_MIMETYPE` for a type outside the table
 */
export function extensionFor(mimetype: string): string {
  const ext = EXTENSIONS.get(mimetype);
  if (ext === undefined) {
    throw new ImageAttachError(
      'ERR_UNKNOWN_MIMETYPE',
      `Expected one of ${KNOWN_MIMETYPES.join(', ')} for mimetype but received ${JSON.stringify(mimetype)}`,
      { statusCode: 415, data: { mimetype } },
    );
  }
  return ext;
}

/** The other extensions (with their dots) a file of `mimetype` may be found under; see {@link ALTERNATE_EXTENSIONS}. */
export function alternateExtensions(mimetype: string): readonly string[] {
  return ALTERNATE_EXTENSIONS.get(mimetype) ?? [];
}

/** `name` (ending in `extensionFor(mimetype)`) under each alternate extension of its type. */
export function alternateNames(name: string, mimetype: string): string[] {
  const ext = extensionFor(mimetype);
  return alternateExtensions(mimetype).map((other) => name.slice(0, -ext.length) + other);
}

/** `name` with an alternate extension replaced by its type's own (`….tif` → `….tiff`). */
function canonicalName(name: string): string {
  const dot = name.lastIndexOf('.');
  const mimetype = dot < 0 ? undefined : MIMETYPES.get(name.slice(dot).toLowerCase());
  return mimetype === undefined ? name : name.slice(0, dot) + extensionFor(mimetype);
}

/** The mimetype for a file extension (with its dot), or `undefined`. */
export function mimetypeForExtension(ext: string): string | undefined {
  return MIMETYPES.get(ext.toLowerCase());
}

const OBJECT_TYPE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Turns an id into the exact integer a store uses: a safe integer `number`, a `bigint`, or a
 * string of decimal digits (how drivers return BIGINT columns).
 * @throws InvalidArgumentError for anything else (a fraction, an unsafe number, a UUID string…)
 */
export function toObjectId(value: unknown, argument = 'objectId'): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new InvalidArgumentError(argument, 'an integer (a safe integer number, a bigint or a string of digits)', value);
}

/**
 * Checks every part of a key a store would put in a path or URL, and returns it with a `bigint` id.
 * This is where untrusted parts are stopped: no `..`, `/`, `\` or NUL can reach a path.
 * @throws InvalidArgumentError naming the bad part; ImageAttachError `ERR_UNKNOWN_MIMETYPE`
 */
export function normalizeKey(key: ImageKey): NormalizedKey {
  check.object(key, 'key', 'an image key object');
  const { objectType, width, height, mimetype } = key;
  if (typeof objectType !== 'string' || !OBJECT_TYPE.test(objectType) || objectType.includes('..')) {
    throw new InvalidArgumentError(
      'objectType',
      'a name of letters, digits, ".", "_" and "-" (no "..", "/", "\\" or NUL)',
      objectType,
    );
  }
  const objectId = toObjectId(key.objectId);
  check.positiveInteger(width, 'width');
  check.positiveInteger(height, 'height');
  extensionFor(mimetype);
  return { objectType, objectId, width, height, mimetype };
}

/** Floor division and modulo, as Python's `//` and `%` (SQLAlchemy-ImageAttach's layout uses them for negative ids). */
function floorDivMod(n: bigint, d: bigint): [bigint, bigint] {
  let q = n / d;
  let r = n % d;
  if (r !== 0n && r < 0n !== d < 0n) {
    q -= 1n;
    r += d;
  }
  return [q, r];
}

/**
 * SQLAlchemy-ImageAttach's filesystem layout, as path segments:
 * `[objectType, id mod 1000, floor(id / 1000), '<id>.<w>x<h><ext>']`,
 * e.g. `['testing', '234', '1', '1234.405x640.jpe']`.
 */
export function fileSystemSegments(key: ImageKey): string[] {
  const k = normalizeKey(key);
  const [high, low] = floorDivMod(k.objectId, 1000n);
  return [k.objectType, String(low), String(high), `${k.objectId}.${k.width}x${k.height}${extensionFor(k.mimetype)}`];
}

const FILE_NAME = /^(-?\d+)\.(\d+)x(\d+)(\.[a-z]+)$/;

/**
 * The key that {@link fileSystemSegments} made these segments from, or `undefined` when they are
 * not a store file (a temp file, a stray file). Used to list a store's files.
 */
export function keyFromFileSystemSegments(segments: readonly string[]): NormalizedKey | undefined {
  if (segments.length !== 4) return undefined;
  const match = FILE_NAME.exec(segments[3]!);
  const mimetype = match && mimetypeForExtension(match[4]!);
  if (!match || !mimetype) return undefined;
  const key = {
    objectType: segments[0]!,
    objectId: BigInt(match[1]!),
    width: Number(match[2]),
    height: Number(match[3]),
    mimetype,
  };
  try {
    const expected = fileSystemSegments(key);
    const found = [...segments.slice(0, 3), canonicalName(segments[3]!)];
    return expected.every((part, i) => part === found[i]) ? normalizeKey(key) : undefined;
  } catch {
    // Not a name this layout makes (bad object type, zero size…): not one of ours.
    return undefined;
  }
}

/** SQLAlchemy-ImageAttach's object-storage key, without prefix: `<objectType>/<id>/<w>x<h><ext>`. */
export function objectStorageKey(key: ImageKey): string {
  const k = normalizeKey(key);
  return `${k.objectType}/${k.objectId}/${k.width}x${k.height}${extensionFor(k.mimetype)}`;
}

const OBJECT_KEY = /^([^/]+)\/(-?\d+)\/(\d+)x(\d+)(\.[a-z]+)$/;

/** The inverse of {@link objectStorageKey}, or `undefined` for a name it does not make. */
export function keyFromObjectStorageKey(name: string): NormalizedKey | undefined {
  const match = OBJECT_KEY.exec(name);
  const mimetype = match && mimetypeForExtension(match[5]!);
  if (!match || !mimetype) return undefined;
  const key = {
    objectType: match[1]!,
    objectId: BigInt(match[2]!),
    width: Number(match[3]),
    height: Number(match[4]),
    mimetype,
  };
  try {
    return objectStorageKey(key) === canonicalName(name) ? normalizeKey(key) : undefined;
  } catch {
    // Same as above: a name we would never have written.
    return undefined;
  }
}

/**
 * Reads a `created_at` as drivers return it (Date, ISO or SQL string, epoch milliseconds). A SQL
 * string gives a {@link DatabaseTimestamp} that keeps its digits (microseconds included); one
 * without a zone is UTC, as SQLAlchemy and this library write SQLite's text.
 */
export function toDate(value: Date | string | number, argument = 'created_at'): Date {
  let date: Date;
  if (value instanceof Date) date = value;
  else if (typeof value === 'number') date = new Date(value);
  else if (typeof value === 'string') {
    date = parseDatabaseTimestamp(value) ?? new Date(value);
  } else {
    throw new InvalidArgumentError(argument, 'a Date, an ISO date string or epoch milliseconds', value);
  }
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(argument, 'a valid date', value);
  return date;
}

const SQL_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?$/;

/**
 * SQLAlchemy-ImageAttach's cache-busting stamp: `created_at` as `YYYYMMDDHHmmss` plus six
 * microsecond digits (20 digits). A value read from the database (a {@link DatabaseTimestamp})
 * gives the column's own digits, microseconds and the session's time zone included, as Python's
 * `strftime` of it does; a zone-less SQL string its digits as written; any other date its UTC
 * time, to the millisecond (the last three digits zeros).
 */
export function timestampToken(createdAt: Date | string | number): string {
  const exact = createdAt instanceof DatabaseTimestamp ? createdAt.exactDigits() : undefined;
  if (exact !== undefined) return exact;
  // A zone-less SQL string keeps all six fractional digits a Date would cut to three.
  const sql = typeof createdAt === 'string' && SQL_TIME.exec(createdAt);
  if (sql) return sql.slice(1, 7).join('') + (sql[7] ?? '').padEnd(6, '0').slice(0, 6);
  return utcDigits(toDate(createdAt));
}

/** `url?_ts=…`, or `url&_ts=…` when the URL already has a query. */
export function withTimestamp(url: string, createdAt: Date | string | number): string {
  return `${url}${url.includes('?') ? '&' : '?'}_ts=${timestampToken(createdAt)}`;
}

const VARIANT_OBJECT_TYPE = /^(.+)\.([A-Za-z][A-Za-z0-9_-]{0,31})\.([0-9a-f]{12})$/;

/**
 * The object type a variant output's file is stored under: `<objectType>.<variant>.<digest>`,
 * e.g. `user-picture.avatar.3f2a9c0b1d4e`. SQLAlchemy-ImageAttach's object types hold no `.`, and
 * `verify --orphans` of releases without variants skips object types no image class has, so
 * neither side ever takes the other's files for its own.
 */
export function variantObjectType(objectType: string, variant: string, digest: string): string {
  const made = `${objectType}.${variant}.${digest}`;
  if (!VARIANT_OBJECT_TYPE.test(made)) {
    throw new InvalidArgumentError('variant', 'a variant name and a 12-hex-digit recipe digest', { variant, digest });
  }
  return made;
}

/** The parts of a variant object type made by {@link variantObjectType}, or `undefined` for any other. */
export function parseVariantObjectType(
  objectType: string,
): { objectType: string; variant: string; digest: string } | undefined {
  const match = VARIANT_OBJECT_TYPE.exec(objectType);
  return match ? { objectType: match[1]!, variant: match[2]!, digest: match[3]! } : undefined;
}
