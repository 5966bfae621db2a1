/**
 * objection-imageattach/browser: a direct upload from a web page, with no dependency and no Node
 * API. It asks the app's presign route how to upload (`presignUpload()` in `/express`), sends the
 * file straight to where that answer points (an S3 POST policy, an S3 PUT, or the app's filesystem
 * upload endpoint), reporting progress, and returns the token the app then claims with
 * `imageSet(owner, name).fromUpload(token, { principal })`. The bytes never pass through the app.
 *
 * The library's own tsconfig has no DOM lib (the rest of it is Node code), so the few browser types
 * this file uses are declared below by shape; the globals are the browser's.
 */

/** How to send the bytes, as the presign route answers it. */
export interface UploadInstructions {
  /** `POST`: a multipart form (S3's POST policy: `fields` first, then the file); `PUT`: the bytes as the body. */
  method: 'POST' | 'PUT';
  url: string;
  /** Form fields to send before the file (POST). */
  fields?: Record<string, string>;
  /** Request headers the signature covers (PUT: `Content-Type`, and any the URL was signed with). */
  headers?: Record<string, string>;
}

/** The presign route's answer. */
export interface PresignedUpload {
  /** The upload's id (32 hex digits). */
  id?: string;
  /** What the app claims once the upload is done; opaque to the page. */
  token: string;
  upload: UploadInstructions;
  /** When the claim window closes (ISO 8601), when the route says. */
  expiresAt?: string;
}

export interface UploadProgress {
  /** Bytes of the body sent so far (for a POST, the form's fields count too). */
  loaded: number;
  total: number;
}

export interface DirectUploadOptions {
  /** The app's presign route (`presignUpload()` mounted behind the app's own authentication). */
  presignUrl: string;
  /** More fields for the presign request, sent as JSON beside `size` and `type` (the route ignores what it does not know). */
  presignBody?: Record<string, unknown>;
  /** Headers for the presign request only (a CSRF token); never sent to the storage. */
  presignHeaders?: Record<string, string>;
  /**
   * The type to declare. Default: the file's own (`file.type`). The server reads the type from the
   * bytes at claim time anyway; the declared one only lets it refuse early.
   */
  type?: string;
  /** Called as the bytes go out (not for the presign request). */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the presign request or the upload; the promise then rejects with `code` `'aborted'`. */
  signal?: AbortSignal;
}

/** Why a direct upload failed: `code` says at which step, `status` what the server answered (0: no answer). */
export class DirectUploadError extends Error {
  readonly code: 'presign' | 'upload' | 'network' | 'aborted';
  readonly status: number;
  /** The body of the refusal (the presign route's JSON error, or S3's XML), when there was one. */
  readonly body: unknown;

  constructor(code: DirectUploadError['code'], message: string, status = 0, body?: unknown) {
    super(message);
    this.name = 'DirectUploadError';
    this.code = code;
    this.status = status;
    this.body = body;
  }
}

/**
 * Uploads `file` directly to the storage the app's presign route chose, and returns the token to
 * hand to the app (in a form field, or a JSON body), which claims it.
 * @throws DirectUploadError when the presign route refuses, the upload fails or is aborted
 * @example
 * import { directUpload } from 'objection-imageattach/browser';
 * const token = await directUpload(input.files[0], {
 *   presignUrl: '/uploads/presign',
 *   onProgress: ({ loaded, total }) => (bar.value = loaded / total),
 * });
 * form.elements.upload.value = token;
 */
export async function directUpload(file: Blob, options: DirectUploadOptions): Promise<string> {
  const presigned = await presign(file, options);
  await sendFile(file, presigned.upload, options);
  return presigned.token;
}

/** Asks the app's presign route for a pending upload of `file`. @throws DirectUploadError */
export async function presign(file: Blob, options: DirectUploadOptions): Promise<PresignedUpload> {
  if (typeof options?.presignUrl !== 'string' || options.presignUrl === '')
    throw new TypeError(`Expected a URL for options.presignUrl but received ${String(options?.presignUrl)}`);
  const body = {
    ...options.presignBody,
    size: file.size,
    type: options.type ?? file.type,
  };
  let response: Response;
  try {
    response = await fetch(options.presignUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...options.presignHeaders },
      body: JSON.stringify(body),
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw new DirectUploadError('aborted', 'The upload was aborted');
    throw new DirectUploadError('network', `The presign request failed: ${(error as Error).message}`);
  }
  const answer: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const message = (answer as { message?: unknown } | undefined)?.message;
    throw new DirectUploadError(
      'presign',
      typeof message === 'string' ? message : `The presign route answered ${response.status}`,
      response.status,
      answer,
    );
  }
  if (!isPresigned(answer))
    throw new DirectUploadError('presign', 'Expected { token, upload: { method, url } } from the presign route', 200);
  return answer;
}

function isPresigned(answer: unknown): answer is PresignedUpload {
  const a = answer as PresignedUpload | undefined;
  return (
    typeof a?.token === 'string' &&
    typeof a.upload?.url === 'string' &&
    (a.upload.method === 'POST' || a.upload.method === 'PUT')
  );
}

/**
 * Sends `file` as `upload` says, with progress. XMLHttpRequest, not fetch: only it reports how
 * much of a request body has been sent. @throws DirectUploadError
 */
export function sendFile(
  file: Blob,
  upload: UploadInstructions,
  options: Pick<DirectUploadOptions, 'onProgress' | 'signal'> = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(new DirectUploadError('aborted', 'The upload was aborted'));
    const request: XhrLike = new (globalThis as unknown as { XMLHttpRequest: new () => XhrLike }).XMLHttpRequest();
    request.open(upload.method, upload.url);
    for (const [name, value] of Object.entries(upload.headers ?? {})) request.setRequestHeader(name, value);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) options.onProgress?.({ loaded: event.loaded, total: event.total });
    });
    const onAbort = () => request.abort();
    options.signal?.addEventListener('abort', onAbort);
    const done = () => options.signal?.removeEventListener('abort', onAbort);
    request.addEventListener('load', () => {
      done();
      if (request.status >= 200 && request.status < 300) return resolve();
      reject(
        new DirectUploadError('upload', `The upload was refused (${request.status})`, request.status, request.response),
      );
    });
    request.addEventListener('error', () => {
      done();
      reject(new DirectUploadError('network', 'The upload was cut off (network error, or a CORS refusal)'));
    });
    request.addEventListener('abort', () => {
      done();
      reject(new DirectUploadError('aborted', 'The upload was aborted'));
    });
    if (upload.method === 'PUT') return request.send(file);
    // S3 reads the policy's fields before the file, and ignores anything after it.
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields ?? {})) form.append(name, value);
    form.append('file', file);
    request.send(form);
  });
}

/** The part of the browser's XMLHttpRequest used here (declared by shape; see the file's comment). */
interface XhrLike {
  readonly status: number;
  readonly response: unknown;
  readonly upload: {
    addEventListener(
      type: 'progress',
      listener: (event: { lengthComputable: boolean; loaded: number; total: number }) => void,
    ): void;
  };
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  addEventListener(type: 'load' | 'error' | 'abort', listener: () => void): void;
  abort(): void;
  send(body: Blob | FormData): void;
}
