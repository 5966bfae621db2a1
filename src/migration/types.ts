/**
 * The shapes a migration takes and reports: options, progress, per-image events, and the error a
 * migration throws.
 */
import type { Knex } from 'knex';
import type { ImageEntity } from '../entity/index.js';
import { ImageAttachError, type ImageAttachErrorCode, type ImageAttachErrorOptions } from '../errors.js';
import type { ImageKey } from '../stores/keys.js';
import type { VariantFile } from './variant-rows.js';

export interface MigrationOptions {
  /** How many files are copied at once. Default 4; an integer from 1 to 256. */
  concurrency?: number;
  /**
   * Skip an image whose file the destination already holds with the same size as the source's,
   * so an interrupted migration resumes where it stopped. Default false (every file is copied).
   */
  skipExisting?: boolean;
  /**
   * After each copy, read the destination's file back and compare its SHA-256 (and size) with the
   * source's; a mismatch is a failure (`ERR_MIGRATION_CHECKSUM_MISMATCH`). Default false.
   */
  verify?: boolean;
  /** Stop at the first failed image (the run then rejects with a `MigrationError`). Default false. */
  stopOnError?: boolean;
  /**
   * Read rows and stat files but write nothing: the report says what a real run would copy
   * (`bytes` from the source's sizes) and skip. Default false.
   */
  dryRun?: boolean;
  /** Rows read per query (keyset pagination: rows are never all in memory). Default 500. */
  pageSize?: number;
  /** The connection to read rows with. Default: each model class's bound knex (`Model.knex()`). */
  knex?: Knex;
  /** Aborting stops the run: no new copy starts, copies under way finish, then it rejects. */
  signal?: AbortSignal;
  /**
   * Copy the files of the rows in each class's `<table>_variants` too (named variants' outputs),
   * after the image rows' files. Default true; a class without that table has none.
   */
  variants?: boolean;
}

/** A file the run could not copy, with why. */
export interface FailedImage {
  key: ImageKey;
  /** The image row whose file it is; absent for a variant output's file (then `variant` says which). */
  image?: ImageEntity;
  /** The variant row whose file it is; absent for an image row's file. */
  variant?: VariantFile;
  /** An `ImageNotFoundError` for a missing source file, a `StoreError`, a `MigrationError`… */
  error: Error;
}

/** How far a run is; the same object is updated as the run goes. */
export interface MigrationProgress {
  /** Files (of image rows and variant rows) the destination now holds: copied plus skipped. */
  done: number;
  /** Of those, the ones copied by this run (`done - skipped`). */
  copied: number;
  /** Files (image rows plus variant rows) counted when the run started (rows added meanwhile may add to `done`). */
  total: number;
  /** Bytes copied by this run (in a dry run: bytes a real run would copy). */
  bytes: number;
  /** Images skipped because the destination already held them (`skipExisting`). */
  skipped: number;
  /** Images that could not be copied. `done + failed.length` is the number of images settled. */
  failed: FailedImage[];
}

/** What a finished run reports: its final progress. */
export type MigrationReport = MigrationProgress;

/** What happened to one file, as `execute(onProgress)` is told. */
export interface MigrationEvent {
  /** The image row whose file it is; absent for a variant output's file (then `variant` says which). */
  image?: ImageEntity;
  /** The variant row whose file it is; absent for an image row's file. */
  variant?: VariantFile;
  key: ImageKey;
  status: 'copied' | 'skipped' | 'failed';
  /** Bytes copied for this image (0 when skipped or failed). */
  bytes: number;
  error?: Error;
}

export type ProgressCallback = (progress: Readonly<MigrationProgress>, event: MigrationEvent) => void;

/**
 * A migration went wrong as a whole or for one image: `ERR_MIGRATION_CHECKSUM_MISMATCH` (a copy
 * read back differs), `ERR_MIGRATION_STOPPED` (`stopOnError` and an image failed; the image's
 * error is the `cause`), `ERR_MIGRATION_ABORTED` (the signal was aborted), `ERR_MIGRATION_RUNNING`
 * (the plan is already running).
 */
export class MigrationError extends ImageAttachError {
  constructor(
    code: Extract<ImageAttachErrorCode, `ERR_MIGRATION_${string}`>,
    message: string,
    options: ImageAttachErrorOptions = {},
  ) {
    super(code, message, options);
  }
}
