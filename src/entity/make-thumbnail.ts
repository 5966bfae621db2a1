/**
 * Making one thumbnail of a set's original (`generateThumbnail`): rendered ahead, outside any
 * transaction when it can be, then stored with its row in a short one.
 */
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import { ImageAttachError, ImageNotFoundError } from '../errors.js';
import { checkBackground } from '../imaging/background.js';
import { inRenderSlot } from '../imaging/render-slots.js';
import { type SpooledFile, spoolToTempFile } from '../util/spool.js';
import { removeIfPresent } from '../util/temp-files.js';
import { BoundedMap } from '../util/bounded-map.js';
import { type OpenedPicture, openPicture } from '../imaging/picture.js';
import { resizeToThumbnail, type ThumbnailSize, thumbnailDimensions, thumbnailMimetype } from '../imaging/thumbnail.js';
import type { Store } from '../stores/store.js';
import { concreteStore, type ImageEntity } from './image.js';
import { FileLedger } from './ledger.js';
import { committedButStaged, openForProcessing } from './local-file.js';
import type { ThumbnailOptions } from './set-options.js';
import type { SetRows } from './set-rows.js';
import { imageOfSize, reusableImage } from './size-match.js';
import { checkRenderable, renderFailure } from './unrenderable.js';
import { checked } from '../stores/checked-calls.js';

/**
 * A thumbnail rendered ahead into a temp file: `of` names what it was rendered of and into (see
 * {@link renderKey}), `original` the original alone, `picture` the size of the picture that
 * original shows (what the thumbnail's size was computed from).
 */
export type RenderedAhead = SpooledFile & {
  of: string;
  original: string;
  picture: { width: number; height: number };
  /** Set when the file is at the store's `stagingPath()`: storing it is then a rename. */
  staged?: boolean;
};

/**
 * The thumbnail of `size` of the set's original: an image the set has already if one answers it
 * (see `size-match.ts`: any of that width for `{ width }`, even the original), else a new one,
 * sized from the picture the original shows (see `imaging/picture.ts`: an EXIF-rotated original
 * that SQLAlchemy-ImageAttach recorded at its stored size still gets upright, unsqueezed
 * thumbnails). See `ImageSet.generateThumbnail`. `madeAhead` is a render the caller made before
 * its transaction (a queue worker, whose transaction holds locks): used if it is of the original
 * the transaction finds, and left to the caller to dispose of.
 * @throws InvalidArgumentError for a bad size or format; ImageNotFoundError when there is no original
 *   (or no file); ImageAttachError `ERR_ORIGINAL_UNREADABLE` / `ERR_ORIGINAL_REPLACED` (see unrenderable.ts, set-rows.ts)
 */
export async function generateThumbnail(
  rows: SetRows,
  size: ThumbnailSize,
  options: ThumbnailOptions,
  madeAhead?: RenderedAhead,
): Promise<ImageEntity> {
  // Validate the size and format before any work is done.
  thumbnailDimensions(1, 1, size);
  if (options.format !== undefined) thumbnailMimetype('image/png', options.format);
  checkBackground(options.background, 'options.background');
  const store = concreteStore(options.store);
  // Without a caller's transaction, render before taking one: the database is then held for a
  // row and a file copy, not for the resize (SQLite has one writer: a resize inside the
  // transaction would make every other request wait for it).
  const ownAhead =
    options.trx === undefined && madeAhead === undefined
      ? await renderThumbnailAhead(rows, size, options, store).catch(() => {
          // Only a head start: the transaction below renders again from the rows it reads, and
          // throws whatever error is real (a loaded relation may name an original since replaced).
          return undefined;
        })
      : undefined;
  const ahead = madeAhead ?? ownAhead;
  // Set once the render made ahead is moved into the store: it is not there to use (or remove) again.
  let handedOver = false;
  try {
    const image = await rows.inTransaction(options.trx, async (trx: Knex.Transaction) => {
      // A transaction of our own waits for a replacement of the set under way (and holds the next
      // one off) before it reads, so the original it reads is the current one until it commits:
      // otherwise a thumbnail of the old picture could join the new set. (SQLite: the write lock,
      // taken first, so another process's write makes it wait instead of failing at its insert.)
      const heldOff = options.trx === undefined && (await rows.lockOwnerShared(trx));
      const images = (await rows.thumbnailCandidatesQuery(trx, size)) as unknown as ImageEntity[];
      const original = images.find((i) => i.original);
      if (original === undefined)
        throw new ImageNotFoundError(`${rows.describe()} has no original image to make a thumbnail of`);
      const reused = reusableImage(images, size);
      if (reused !== undefined) return reused;
      // Otherwise the original is held as a queue worker holds it; in a caller's transaction that
      // read before a replacement committed, it may be gone: then nothing is made of it.
      if (!heldOff && !(await rows.holdsOriginal(trx, original))) throw originalReplaced(rows);
      const maxPixels = rows.limits(options).maxPixels;
      checkRenderable(store, original, maxPixels);
      const mimetype = thumbnailMimetype(original.mimetype, options.format);
      // A render made ahead of this very original knows its picture's size: no need to open it.
      const usable = ahead !== undefined && !handedOver && ahead.original === originalKey(original) ? ahead : undefined;
      // An original replaced earlier in this transaction may still be staged: its bytes are read there.
      const staged = FileLedger.of(trx).pendingSource(store, original);
      let rendersLocalFile = false;
      const open = async () => {
        // A replacement committed just before may not have swapped its bytes in yet: see openForProcessing.
        const input = await (staged ?? openForProcessing(store, original));
        rendersLocalFile = typeof input === 'string';
        return openPicture(input, original, mimetype, maxPixels).catch((error: unknown) => {
          throw renderFailure(error, store, original, maxPixels, typeof input === 'string');
        });
      };
      let opened = usable === undefined ? await open() : undefined;
      // An error of the render (not of the store): the original, not the write, is at fault.
      let renderError: unknown;
      try {
        const picture = usable?.picture ?? opened!;
        const { width, height } = thumbnailDimensions(picture.width, picture.height, size);
        const existing = imageOfSize(images, { width, height });
        if (existing !== undefined) return existing;
        const row = await rows.insert(trx, { width, height, mimetype, original: false });
        // The render made ahead is used only if it is of this very original, size, type and background.
        let output: string | Readable;
        if (usable !== undefined && usable.of === renderKey(original, width, height, mimetype, options))
          output = usable.path;
        else {
          opened ??= await open();
          const render = resizeToThumbnail(opened.image, width, height, mimetype, options.background);
          render.once('error', (error) => (renderError ??= error));
          output = render;
          opened = undefined; // the ledger's write consumes it now
        }
        // A staged render is given away: moved into place (a rename), its size known.
        const move = output === usable?.path && usable.staged === true;
        try {
          await FileLedger.of(trx).write(store, row, output, {
            reproducible: true,
            move,
            size: move ? usable.size : undefined,
          });
        } catch (error) {
          if (renderError === undefined) throw error;
          throw renderFailure(renderError, store, original, maxPixels, rendersLocalFile);
        }
        handedOver ||= move;
        return row;
      } finally {
        opened?.dispose();
      }
    });
    rows.remember(image);
    return image;
  } finally {
    if (!handedOver) await ownAhead?.dispose();
  }
}

/** Renders the thumbnail to a temp file, outside any transaction; nothing when there is nothing to make. */
export async function renderThumbnailAhead(
  rows: SetRows,
  size: ThumbnailSize,
  options: ThumbnailOptions,
  store: Store,
): Promise<RenderedAhead | undefined> {
  // The loaded relation will do (the transaction checks the render against the rows anyway).
  const images = rows.isLoaded
    ? rows.loadedImages()
    : ((await rows.thumbnailCandidatesQuery(undefined, size)) as unknown as ImageEntity[]);
  const original = images.find((i) => i.original);
  // No original (the transaction will say so), or the thumbnail exists: nothing to render.
  if (original === undefined || reusableImage(images, size) !== undefined) return undefined;
  const mimetype = thumbnailMimetype(original.mimetype, options.format);
  const maxPixels = rows.limits(options).maxPixels;
  // An original found not to decode lately is not decoded again (the transaction says why).
  checkRenderable(store, original, maxPixels);
  // No check that the file is there first: a render that fails is only a head start lost, and the
  // transaction then meets (and reports) the real error.
  // A replacement committed just before (by any process) may not have swapped its bytes in yet.
  const source =
    (await committedButStaged(store, original)) ?? checked(store).localPath(original) ?? (await store.open(original));
  // In a render slot (see render-slots.ts), so a burst of requests for new sizes renders a few at
  // a time. The render in the transaction below takes none: it must not wait with the database held.
  return inRenderSlot(async () => {
    const pictureKey = `${original.objectType}/${original.objectId}:${originalKey(original)}`;
    const opened = await openPicture(source, original, mimetype, maxPixels, knownPictures.get(pictureKey)).catch(
      (error: unknown) => {
        // Remembered when the original does not decode, so the transaction does not decode it again.
        throw renderFailure(error, store, original, maxPixels, typeof source === 'string');
      },
    );
    knownPictures.set(pictureKey, { width: opened.width, height: opened.height });
    const { width, height } = thumbnailDimensions(opened.width, opened.height, size);
    if (imageOfSize(images, { width, height }) !== undefined) {
      opened.dispose();
      return undefined;
    }
    const made = {
      of: renderKey(original, width, height, mimetype, options),
      original: originalKey(original),
      picture: { width: opened.width, height: opened.height },
    };
    const local = typeof source === 'string';
    /** The thumbnail of `picture` spooled to a temp file; a failure of the render (not of the spool) is the original's. */
    const spooled = async (picture: OpenedPicture): Promise<RenderedAhead> => {
      const render = resizeToThumbnail(picture.image, width, height, mimetype, options.background);
      let renderError: unknown;
      render.once('error', (error) => (renderError ??= error));
      try {
        return { ...(await spoolToTempFile(render, Number.MAX_SAFE_INTEGER)), ...made };
      } catch (error) {
        throw renderError === undefined ? error : renderFailure(renderError, store, original, maxPixels, local);
      }
    };
    // Where the store allows it (a local original, and a place beside the thumbnail's own),
    // libvips writes the thumbnail there itself, and storing it is a rename: no byte through
    // JavaScript, no copy. Otherwise the thumbnail is spooled to a temp file.
    const key = { objectType: original.objectType, objectId: original.objectId, width, height, mimetype };
    let staging: string | undefined;
    try {
      staging = local ? await checked(store).stagingPath(key) : undefined;
    } catch (error) {
      opened.dispose();
      throw error;
    }
    if (staging === undefined) return spooled(opened);
    const staged = staging;
    const dispose = () => removeIfPresent(staged);
    try {
      const { size: bytes } = await resizeToThumbnail(opened.image, width, height, mimetype, options.background).toFile(
        staged,
      );
      return { path: staged, size: bytes, dispose, staged: true, ...made };
    } catch {
      await dispose();
      // libvips reports a failed decode and a failed write alike: rendered again to a stream, the
      // two differ, and a decoding failure is remembered (the transaction then decodes nothing).
      return spooled(await openPicture(source, original, mimetype, maxPixels, made.picture));
    }
  });
}

/**
 * The picture sizes of originals rendered ahead lately, by original (key, size, type, created_at):
 * the next thumbnail of one (a page's srcset asks for several) skips reading its header. Only
 * renders made ahead use it; one that fails is a head start lost, and the transaction reads anew.
 */
const knownPictures = new BoundedMap<string, { width: number; height: number }>(1000);

/** A caller's transaction read an original that a replacement has removed since: nothing is made of it. */
function originalReplaced(rows: SetRows): ImageAttachError {
  return new ImageAttachError(
    'ERR_ORIGINAL_REPLACED',
    `The original of ${rows.describe()} was replaced while its thumbnail was being made: ask again`,
    { statusCode: 409 },
  );
}

/** Which original a render is of: its row's size, type and creation instant. */
function originalKey(original: ImageEntity): string {
  const created = original.created_at instanceof Date ? original.created_at.getTime() : String(original.created_at);
  return `${original.width}x${original.height}:${original.mimetype}:${created}`;
}

/** What a render made ahead was made of and into: the original and the output (its background too). */
function renderKey(
  original: ImageEntity,
  width: number,
  height: number,
  mimetype: string,
  options: ThumbnailOptions,
): string {
  return `${originalKey(original)}->${width}x${height}:${mimetype}:${JSON.stringify(options.background ?? null)}`;
}
