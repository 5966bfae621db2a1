/**
 * What the example tells a person whose upload was refused, in plain words.
 *
 * The library's errors are written for developers: a stable `code`, a precise message
 * ("Expected at most 10485760 bytes…") and the numbers in `data`. A page should show none of
 * that. This module is the one place that turns a code (and its data) into a sentence a person
 * can act on: copy it into your app and change the words.
 */
import { ImageAttachError } from 'objection-imageattach';

/** For a failure on the server's side: nothing the person did, nothing they can fix but wait. */
export const SERVER_ERROR = 'Something went wrong on our side. Please try again in a moment.';

/** Bytes as megabytes, as people count them: 10485760 → "10 MB", 14900000 → "14.2 MB". */
export function megabytes(bytes: number): string {
  return `${Number((bytes / (1024 * 1024)).toFixed(1))} MB`;
}

/** The words for one of the library's error codes, with the `data` the error carries. */
export function uploadMessage(code: string, data: Record<string, any> = {}): string {
  switch (code) {
    case 'ERR_IMAGE_TOO_LARGE':
      return data.size === undefined
        ? `This file is too big: a picture can be at most ${megabytes(data.maxBytes)}.`
        : `This file is ${megabytes(data.size)}: a picture can be at most ${megabytes(data.maxBytes)}.`;
    case 'ERR_IMAGE_TOO_MANY_PIXELS':
      return `This picture is ${data.width} × ${data.height} pixels: we take up to ${Math.floor(data.maxPixels / 1_000_000)} megapixels. Make it smaller and try again.`;
    case 'ERR_IMAGE_TOO_MANY_FRAMES':
      return `This animation has ${data.frames} frames of ${data.width} × ${data.height} pixels: too many for its size. Send fewer frames or a smaller one.`;
    case 'ERR_IMAGE_UNSUPPORTED_TYPE':
      // An iPhone photo (image/heic) on a route whose types leave HEIC out.
      if (/hei[cf]/i.test(String(data.mimetype)))
        return "HEIC photos aren't taken here: export it as JPEG and try again.";
      return "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.";
    case 'ERR_HEIC_DECODER_MISSING':
      // The server lacks the optional heic-decode package: the visitor can still send a JPEG.
      return "HEIC photos can't be read here yet: export it as JPEG and try again.";
    case 'ERR_IMAGE_UNREADABLE':
      return "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.";
    case 'ERR_IMAGE_TRUNCATED':
      return 'This picture is incomplete: its end is missing. Was it fully downloaded? Try the file again.';
    case 'ERR_IMAGE_EMPTY':
      return 'This file is empty.';
    case 'ERR_UPLOAD_NO_FILE':
      return 'Choose a picture first.';
    case 'ERR_UPLOAD_ABORTED':
    case 'ERR_UPLOAD_MALFORMED':
      return 'The upload was cut off before it finished. Please try again.';
    case 'ERR_UPLOAD_TOKEN_INVALID':
    case 'ERR_UPLOAD_EXPIRED':
    case 'ERR_UPLOAD_NOT_RECEIVED':
    case 'ERR_UPLOAD_MISMATCH':
      return 'The upload did not reach us as sent. Please choose the picture and upload it again.';
    case 'ERR_UPLOAD_CLAIMED':
    case 'ERR_UPLOAD_ALREADY_RECEIVED':
      return 'This upload was already sent: reload the page to see the picture.';
    case 'ERR_ORIGINAL_UNREADABLE':
      return "This picture can't be shown: its file is damaged on our side. Uploading it again fixes it.";
    case 'ERR_ORIGINAL_REPLACED':
      return 'This picture was replaced just now: reload the page to see the new one.';
    case 'ERR_INVALID_ARGUMENT':
      return "We don't make that: the address asks for a size or option this page doesn't offer.";
    default:
      return "That didn't work. Send one picture with the form on this page.";
  }
}

/**
 * The words for an error caused by what the person sent (a 4xx of the library), else undefined:
 * a server's failure (5xx) or another library's error is not theirs to fix, and the app's error
 * page says so in its own words.
 */
export function messageFor(error: unknown): string | undefined {
  if (!(error instanceof ImageAttachError) || error.statusCode >= 500) return undefined;
  return uploadMessage(error.code, error.data);
}
