/**
 * objection-imageattach/express: the pieces for Express (or Connect) apps. Binding the store per
 * request, serving files (a folder, or an `HttpExposedFileSystemStore`'s), upload routes,
 * on-demand thumbnails and variants and the template helpers.
 */
export { storeContext } from './context.js';

export { staticServer } from './http/static/static-server.js';
export type {
  StaticServerIntrospection,
  StaticServerMiddleware,
  StaticServerOptions,
} from './http/static/static-server.js';
export type { ContentCacheOptions, ContentCacheStats } from './http/static/content-cache.js';
export { serveStore } from './http/serve-store.js';
export type { ServeStoreOptions } from './http/serve-store.js';

export { imageUpload } from './http/upload.js';
export type { ImageUploadOptions, UploadMiddleware } from './http/upload.js';
export type { RejectedImage, UploadedImage } from './http/upload-storage.js';

export { presignRoute } from './http/presign-route.js';
export type { PresignRouteOptions } from './http/presign-route.js';
export { directUploadEndpoint } from './http/direct-upload-endpoint.js';
export type { DirectUploadEndpointOptions } from './http/direct-upload-endpoint.js';

export { imageErrors } from './http/error-handler.js';
export type { ImageErrorsOptions } from './http/error-handler.js';

export { thumbnailRoute } from './http/thumbnail-route.js';
export type { ThumbnailRouteHandler, ThumbnailRouteOptions } from './http/thumbnail-route.js';

export { variantRoute } from './http/variant-route.js';
export type { VariantRouteHandler, VariantRouteOptions } from './http/variant-route.js';

export { htmlHelpers, imageHelpers, imgTag, pictureTag, srcset } from './html.js';
export type { DemandUrl, HelperDefaults, HelperQueue, HtmlHelpers, ImgTagOptions, SrcsetOptions } from './html.js';
export { placeholderColorsCss } from './html-placeholder.js';
export type { PlaceholderMode, PlaceholderOption } from './html-placeholder.js';
