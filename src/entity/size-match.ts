/**
 * Which image of a set answers a size, before any size is computed: the rule SQLAlchemy-ImageAttach
 * follows, so both libraries reuse the same image and never add a near-twin (87×58 beside 87×57).
 */
import type { ThumbnailSize } from '../imaging/thumbnail.js';

/** What choosing needs of an image: its size and whether it is the original. */
export interface SizedImage {
  width: number;
  height: number;
  original: boolean;
}

/**
 * The image of `images` with that width and/or height. With several (a set holding both 87×57 and
 * 87×58, as sets written by two rounding rules may), the choice is fixed: the original if it
 * matches, else the one smallest on the side not asked for.
 */
export function imageOfSize<I extends SizedImage>(
  images: readonly I[],
  size: { width?: number; height?: number },
): I | undefined {
  const { width, height } = size;
  const matches = images.filter(
    (i) => (width === undefined || i.width === width) && (height === undefined || i.height === height),
  );
  return matches.reduce<I | undefined>(
    (best, image) => (best === undefined || preferred(image, best) ? image : best),
    undefined,
  );
}

/** True when `a` goes before `b`: the original first, then the smaller, height before width. */
function preferred(a: SizedImage, b: SizedImage): boolean {
  if (a.original !== b.original) return a.original;
  return a.height !== b.height ? a.height < b.height : a.width < b.width;
}

/**
 * The image a thumbnail request of `size` reuses without computing the other side: for
 * `{ width }` any image of that width, for `{ height }` any of that height (as
 * SQLAlchemy-ImageAttach's `generate_thumbnail` does); a `{ ratio }` is answered only once its size is computed.
 */
export function reusableImage<I extends SizedImage>(images: readonly I[], size: ThumbnailSize): I | undefined {
  if ('width' in size && size.width !== undefined) return imageOfSize(images, { width: size.width });
  if ('height' in size && size.height !== undefined) return imageOfSize(images, { height: size.height });
  return undefined;
}
