/**
 * `HttpExposedFileSystemStore`: files in a local folder that this app serves itself, under a URL
 * prefix. Serving is the HTTP layer's (`serveStore()` of `objection-imageattach/express`,
 * `http/serve-store.ts`); this class keeps the files and computes their URLs, and imports no HTTP code.
 */
import { currentRequestOrigin } from '../context.js';
import { ContextError, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import type { FileSystemDirectUploadOptions } from './fs-direct-uploads.js';
import { FileSystemStoreBase } from './fs.js';
import { checkHttpUrl } from './http-url.js';
import type { ImageKey } from './keys.js';

export interface HttpExposedFileSystemStoreOptions {
  /** The folder the files go in; created on the first write. */
  path: string;
  /** The URL path the app serves the files under. Default `__images__`. */
  prefix?: string;
  /**
   * A fixed origin for URLs (`https://cdn.example.com`): the choice for production. Without it
   * (and without `allowedHosts` or `trustHostHeader`), URLs are root-relative
   * (`/__images__/…`): right for pages and redirects of this app, and never built from a
   * request's `Host` header, which a client chooses.
   */
  hostUrl?: string;
  /**
   * Hosts (`host` or `host:port`) whose requests get absolute URLs on their own origin: one app
   * answering on several hosts gives each its own URLs. A request to any other host gets
   * root-relative URLs. With Express's `trust proxy`, the host is the proxy's `X-Forwarded-Host`.
   */
  allowedHosts?: readonly string[];
  /**
   * Absolute URLs on the origin of every request, whatever its `Host` header says. Only behind a
   * proxy that answers known hosts alone: otherwise a client sending `Host: evil.example` gets
   * pages (and cached pages, for others) pointing at `http://evil.example/…`. Default false.
   */
  trustHostHeader?: boolean;
  /** Accept direct uploads from browsers, through `directUploadEndpoint()` (see docs/direct-uploads.md). */
  directUploads?: FileSystemDirectUploadOptions;
}

/**
 * Files in a local folder that this app serves itself: mount `serveStore(store)` (from
 * `objection-imageattach/express`) and the URLs of `locate()` point at it.
 */
export class HttpExposedFileSystemStore extends FileSystemStoreBase {
  /** The URL path prefix, without leading or trailing slashes. */
  readonly prefix: string;
  readonly hostUrl: string | undefined;
  /** The hosts whose request origin URLs may use (lowercase), `'any'`, or null for none. */
  private readonly originHosts: ReadonlySet<string> | 'any' | null;

  constructor(options: HttpExposedFileSystemStoreOptions) {
    super(options?.path, 'options.path', options?.directUploads);
    const prefix = options.prefix ?? '__images__';
    if (
      typeof prefix !== 'string' ||
      !/^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/.test(prefix) ||
      /(^|\/)\.\.?(\/|$)/.test(prefix)
    ) {
      throw new InvalidArgumentError('options.prefix', 'a URL path like "__images__" or "static/images"', prefix);
    }
    this.prefix = prefix.replace(/^\/|\/$/g, '');
    this.hostUrl =
      options.hostUrl === undefined ? undefined : checkHttpUrl(options.hostUrl, 'options.hostUrl').replace(/\/+$/, '');
    const { allowedHosts, trustHostHeader = false } = options;
    check.boolean(trustHostHeader, 'options.trustHostHeader');
    if (
      allowedHosts !== undefined &&
      (!Array.isArray(allowedHosts) ||
        !allowedHosts.every(
          (h) => typeof h === 'string' && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(h),
        ))
    ) {
      throw new InvalidArgumentError(
        'options.allowedHosts',
        'a list of hosts such as "example.com" or "localhost:3000"',
        allowedHosts,
      );
    }
    this.originHosts = trustHostHeader
      ? 'any'
      : allowedHosts === undefined
        ? null
        : new Set(allowedHosts.map((h) => h.toLowerCase()));
  }

  /**
   * The request origin URLs may use now, if the options allow it: always rebuilt from its parsed
   * scheme and host, never the raw Host text, which may carry a path, quotes or a user name past
   * the host that was checked (`images.example.com/"onerror="…`).
   */
  private requestOrigin(): string | undefined {
    const origin = currentRequestOrigin();
    if (origin === undefined) return undefined;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      // A Host header that makes no URL: not one of the allowed hosts.
      return undefined;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (this.originHosts !== 'any' && !this.originHosts!.has(url.host)) return undefined;
    return `${url.protocol}//${url.host}`;
  }

  /**
   * `<origin>/<prefix>/<path>`: the origin is `hostUrl`; else, with `allowedHosts` or
   * `trustHostHeader`, the request's (when allowed); else none (a root-relative URL).
   * @throws ContextError `ERR_NO_REQUEST_ORIGIN` with `allowedHosts` or `trustHostHeader`, no `hostUrl`, and no request being served
   */
  getUrl(key: ImageKey): string {
    const path = `/${this.prefix}/${this.segmentsFor(key).map(encodeURIComponent).join('/')}`;
    if (this.hostUrl !== undefined) return this.hostUrl + path;
    if (this.originHosts === null) return path;
    if (currentRequestOrigin() !== undefined) return (this.requestOrigin() ?? '') + path;
    throw new ContextError(
      'ERR_NO_REQUEST_ORIGIN',
      "HttpExposedFileSystemStore takes its URLs' origin from the request, and no request is being served here: " +
        'pass { hostUrl } or call this inside a request handled after app.use(serveStore(store))',
    );
  }
}
