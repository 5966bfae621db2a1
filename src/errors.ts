/**
 * The one error family of objection-imageattach.
 *
 * Every error the library throws on purpose is an {@link ImageAttachError} with a stable
 * machine-readable `code`; programs branch on `code` (or `instanceof`), never on message text.
 * Backend errors are normalised: a missing file is an {@link ImageNotFoundError} whatever the
 * store, and an HTTP-facing error carries the `statusCode` a web app should answer with.
 */

/**
 * Every `code` the library throws, the closed list of the public API (docs/errors.md says what
 * each means). A code is never reused for another meaning.
 */
export const IMAGE_ATTACH_ERROR_CODES = [
  // Arguments and context
  'ERR_INVALID_ARGUMENT',
  'ERR_NO_STORE_CONTEXT',
  'ERR_CONTEXT_STACK_EMPTY',
  'ERR_NO_REQUEST_ORIGIN',
  'ERR_NO_OBJECT_ID',
  'ERR_NO_KNEX',
  'ERR_MISSING_DEPENDENCY',
  // Images and image sets
  'ERR_IMAGE_NOT_FOUND',
  'ERR_IMAGE_SET_NOT_LOADED',
  'ERR_IMAGE_EMPTY',
  'ERR_IMAGE_TRUNCATED',
  'ERR_IMAGE_UNSUPPORTED_TYPE',
  'ERR_IMAGE_TOO_LARGE',
  'ERR_IMAGE_TOO_MANY_PIXELS',
  'ERR_IMAGE_TOO_MANY_FRAMES',
  'ERR_IMAGE_UNREADABLE',
  'ERR_IMAGE_MALFORMED',
  'ERR_IMAGE_TOO_MANY_SEGMENTS',
  'ERR_HEIC_DECODER_MISSING',
  'ERR_ORIGINAL_UNREADABLE',
  'ERR_UNKNOWN_MIMETYPE',
  // Stores and files
  'ERR_STORE_UNAVAILABLE',
  'ERR_STORE_WRITE',
  'ERR_STORE_READ_ONLY',
  'ERR_NO_SIGNING_CREDENTIALS',
  'ERR_FILE_CLEANUP',
  'ERR_RESTORE_FAILED',
  'ERR_COMMIT_UNKNOWN',
  'ERR_URL_SIGNATURE_INVALID',
  'ERR_URL_EXPIRED',
  // Uploads
  'ERR_UPLOAD_NOT_MULTIPART',
  'ERR_UPLOAD_NO_FILE',
  'ERR_UPLOAD_UNEXPECTED_FILE',
  'ERR_UPLOAD_MALFORMED',
  'ERR_UPLOAD_ABORTED',
  'ERR_UPLOAD_LIMIT',
  'ERR_UPLOAD_TIMEOUT',
  // Direct uploads
  'ERR_UPLOAD_TOKEN_INVALID',
  'ERR_UPLOAD_EXPIRED',
  'ERR_UPLOAD_ALREADY_RECEIVED',
  'ERR_UPLOAD_LENGTH_REQUIRED',
  'ERR_UPLOAD_MISMATCH',
  'ERR_UPLOAD_NOT_RECEIVED',
  'ERR_UPLOAD_CLAIMED',
  // Background thumbnails
  'ERR_QUEUE_JOB_INVALID',
  'ERR_QUEUE_WORKER',
  'ERR_QUEUE_UNAVAILABLE',
  'ERR_ORIGINAL_REPLACED',
  // Migration and the command line
  'ERR_MIGRATION_CHECKSUM_MISMATCH',
  'ERR_MIGRATION_STOPPED',
  'ERR_MIGRATION_ABORTED',
  'ERR_MIGRATION_RUNNING',
  'ERR_CLI_USAGE',
] as const;

/** A stable error code: one of {@link IMAGE_ATTACH_ERROR_CODES}. */
export type ImageAttachErrorCode = (typeof IMAGE_ATTACH_ERROR_CODES)[number];

export interface ImageAttachErrorOptions {
  cause?: unknown;
  /** The HTTP status a web app should answer with, when the error comes from a request's input. */
  statusCode?: number;
  /** Structured details (the bad value, the limit, the key…) for logs and error pages. */
  data?: Record<string, unknown>;
}

/** Base class of every error objection-imageattach throws on purpose. */
export class ImageAttachError extends Error {
  readonly code: ImageAttachErrorCode;
  readonly statusCode: number;
  readonly data: Record<string, unknown>;

  constructor(code: ImageAttachErrorCode, message: string, options: ImageAttachErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = options.statusCode ?? 500;
    this.data = options.data ?? {};
  }
}

/**
 * No store is bound where one is needed (outside `withStore`/`storeContext`), or
 * `popStoreContext()` was called with nothing pushed.
 */
export class ContextError extends ImageAttachError {}

/** The image, or its file, does not exist. Thrown alike by every store for a missing file. */
export class ImageNotFoundError extends ImageAttachError {
  constructor(message: string, options: ImageAttachErrorOptions = {}) {
    super('ERR_IMAGE_NOT_FOUND', message, { statusCode: 404, ...options });
  }
}

/**
 * The bytes given as an image were rejected: empty, truncated, of a type not allowed, over a
 * byte or pixel limit, or of a structure whose metadata cannot be removed safely. `code` says
 * which; `statusCode` is the HTTP answer (400, 413 or 415).
 */
export class InvalidImageError extends ImageAttachError {}

/** A function or constructor was called with a bad argument or option. */
export class InvalidArgumentError extends ImageAttachError {
  readonly argument: string;

  /**
   * @param argument the argument's or option's name, as the caller wrote it (`width`, `options.prefix`)
   * @param expected what was expected, as a noun phrase (`an integer >= 1`)
   * @param received the value that came
   */
  constructor(argument: string, expected: string, received: unknown, options: ImageAttachErrorOptions = {}) {
    super('ERR_INVALID_ARGUMENT', `Expected ${expected} for ${argument} but received ${describeValue(received)}`, {
      statusCode: 400,
      ...options,
      data: { argument, expected, ...options.data },
    });
    this.argument = argument;
  }
}

/**
 * An upload request broke the multipart protocol or a form limit, or ended early: the request,
 * not the image, is at fault. `code` is one of the `ERR_UPLOAD_*` codes.
 */
export class UploadError extends ImageAttachError {}

/** A store's backend failed (unreachable server, permission denied, disk full…). */
export class StoreError extends ImageAttachError {}

/** `0 of type number`, `'..' of type string`, `undefined`: the value and its type, briefly. */
export function describeValue(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `${JSON.stringify(shown)} of type string`;
  }
  if (typeof value === 'bigint') return `${value}n of type bigint`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} of type ${typeof value}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'function') return `a function`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
}
