/**
 * The credentials an S3 store signs URLs with (`signedUrls`): `getUrl` signs synchronously, so
 * credentials from a provider are resolved ahead and refreshed in the background before they expire.
 */
import { StoreError } from '../errors.js';
import { presignGetUrl, type SigningCredentials } from './s3-presign.js';

/** Refresh signing credentials this long before they expire. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class UrlSigner {
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly bucket: string,
    private readonly region: string,
    private readonly expiresIn: number,
    /** Resolves the client's credentials. */
    private readonly provider: () => Promise<SigningCredentials>,
    private credentials: SigningCredentials | undefined,
  ) {}

  /** @throws StoreError `ERR_STORE_UNAVAILABLE` when the credentials cannot be resolved */
  async refresh(): Promise<void> {
    try {
      this.credentials = await this.provider();
    } catch (error) {
      throw new StoreError('ERR_STORE_UNAVAILABLE', `Resolving S3 credentials failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** @throws StoreError `ERR_NO_SIGNING_CREDENTIALS` with no credentials in hand, or only expired ones */
  sign(url: string): string {
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
