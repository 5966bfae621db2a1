/**
 * The URLs an S3 store hands out with `signedUrls`: presigned GETs. `getUrl` signs synchronously,
 * so credentials from a provider are resolved ahead, kept, and refreshed in the background before
 * they expire. Without `signedUrls`, URLs pass through unsigned.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { StoreError } from '../errors.js';
import type { ResolvedS3Options, S3StoreOptions } from './s3-options.js';
import { presignGetUrl, type SigningCredentials } from './s3-presign.js';

/** Refresh signing credentials this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class UrlSigner {
  /** True when URLs are signed (`signedUrls` set). */
  readonly signs: boolean;
  private readonly bucket: string;
  private readonly region: string;
  private readonly expiresIn: number;
  /** Resolves the client's credentials. */
  private readonly provider: () => Promise<SigningCredentials>;
  private credentials: SigningCredentials | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(client: S3Client, options: S3StoreOptions, settings: ResolvedS3Options) {
    this.signs = settings.expiresIn !== undefined;
    this.bucket = settings.bucket;
    this.region = options.region ?? 'us-east-1';
    this.expiresIn = settings.expiresIn ?? 3600;
    this.provider = () => (client.config.credentials as unknown as () => Promise<SigningCredentials>)();
    this.credentials = typeof options.credentials === 'function' ? undefined : options.credentials;
  }

  /** @throws StoreError `ERR_STORE_UNAVAILABLE` when the credentials cannot be resolved */
  async refresh(): Promise<void> {
    try {
      this.credentials = await this.provider();
    } catch (error) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', `Resolving S3 credentials failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * `url` as the store hands it out: presigned when URLs are signed, else as it is.
   * @throws StoreError `ERR_NO_SIGNING_CREDENTIALS` with no credentials in hand, or only expired ones
   */
  url(url: string): string {
    return this.signs ? this.sign(url) : url;
  }

  private sign(url: string): string {
    const credentials = this.credentials;
    const expiration = credentials?.expiration?.getTime();
    if (credentials === undefined || (expiration !== undefined && expiration <= Date.now())) {
      throw new StoreError(
        'ERR_NO_SIGNING_CREDENTIALS',
        `S3Store for bucket ${this.bucket} has ${credentials ? 'only expired' : 'no'} credentials to sign URLs with: ` +
          'pass static credentials, or await store.refreshCredentials() at startup',
        { data: { bucket: this.bucket } },
      );
    }
    if (expiration !== undefined && expiration - Date.now() < REFRESH_MARGIN_MS) this.refreshInBackground();
    return presignGetUrl(url, { region: this.region, credentials, expiresIn: this.expiresIn });
  }

  private refreshInBackground(): void {
    this.refreshing ??= this.refresh()
      .catch(() => {
        // Narrow and deliberate: the current credentials still work for a while; the next getUrl
        // tries again, and getUrl throws once they have expired.
      })
      .finally(() => {
        this.refreshing = undefined;
      });
  }
}
