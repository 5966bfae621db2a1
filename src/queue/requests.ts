/**
 * What an app asks of a thumbnail queue, as types that need no BullMQ: the HTML helpers take a
 * queue without making Express users install it.
 */
import type { ThumbnailBackground } from '../imaging/background.js';
import type { ThumbnailFormat, ThumbnailSize } from '../imaging/thumbnail.js';
import type { Store } from '../stores/store.js';

/**
 * One thumbnail to make: a size (exactly one of width, height, ratio) and, optionally, a format
 * and the background transparency is flattened onto when that format has no alpha (default white).
 */
export type ThumbnailRequest = ThumbnailSize & { format?: ThumbnailFormat; background?: ThumbnailBackground };

export interface EnqueueOptions {
  /** Values of the extra key columns that pick the image set (as for `imageSet`). */
  subset?: Record<string, unknown>;
  /** The store, by its name in the queue's `stores` or as the instance. Default: `defaultStore`. */
  store?: string | Store;
  /** Enqueue even sizes the (loaded) set already has. Default false: those are left out. */
  force?: boolean;
}
