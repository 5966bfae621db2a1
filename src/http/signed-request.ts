/**
 * The check of a signed URL's request (`?exp=…&sig=…`, see stores/url-signer.ts), shared by
 * `serveStore()` and `staticServer({ signedUrls })`.
 */
import type { IncomingMessage } from 'node:http';
import { ImageAttachError } from '../errors.js';
import type { UrlSigner } from '../stores/url-signer.js';

/** Why a request under `prefix` may not be served (its signature is missing, wrong or expired), or `undefined`. */
export function signatureRefusal(
  req: IncomingMessage,
  prefix: string,
  signer: UrlSigner,
): ImageAttachError | undefined {
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  if (!path.startsWith(prefix)) return undefined;
  const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
  const verdict = signer.verify(path, query.get('exp'), query.get('sig'));
  if (verdict === 'valid') return undefined;
  // No path in the message: it would tell a prober what exists.
  return verdict === 'expired'
    ? new ImageAttachError('ERR_URL_EXPIRED', 'This image URL has expired: render the page again for a new one', {
        statusCode: 410,
      })
    : new ImageAttachError('ERR_URL_SIGNATURE_INVALID', 'This image URL is not signed, or its signature is wrong', {
        statusCode: 403,
      });
}
