/**
 * Counting the header lines of each part of a `multipart/form-data` body as it streams past.
 *
 * busboy caps a part's header block at 16 KiB and 2000 pairs whatever its `headerPairs` limit
 * says (that limit only applies to urlencoded bodies), so a part of hundreds of headers reaches
 * the app. A browser sends two (`Content-Disposition`, `Content-Type`). This scanner finds each
 * boundary with `Buffer.indexOf` (native, so the file's bytes cost little) and walks only the
 * few bytes of each header block.
 */
export class PartHeaderCounter {
  private readonly delimiter: Buffer;
  /** The end of the bytes seen so far, in case a delimiter spans two chunks. */
  private carry: Buffer;
  private state: 'body' | 'headers' | 'done' = 'body';
  /** In a header block: bytes since the delimiter, line feeds seen, bytes on the current line. */
  private offset = 0;
  private lineFeeds = 0;
  private lineBytes = 0;
  private headers = 0;

  constructor(boundary: string, private readonly maxHeaders: number) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    // The first delimiter opens the body without a line break before it.
    this.carry = Buffer.from('\r\n');
  }

  /** Scans `chunk`; false once a part has declared more than `maxHeaders` header lines. */
  push(chunk: Buffer): boolean {
    let data = chunk;
    let at = 0;
    while (at < data.length && this.state !== 'done') {
      if (this.state === 'body') {
        const joined = this.carry.length === 0 ? data.subarray(at) : Buffer.concat([this.carry, data.subarray(at)]);
        const found = joined.indexOf(this.delimiter);
        if (found === -1) {
          this.carry = Buffer.from(joined.subarray(Math.max(0, joined.length - this.delimiter.length + 1)));
          return true;
        }
        data = joined;
        at = found + this.delimiter.length;
        this.carry = Buffer.alloc(0);
        this.state = 'headers';
        this.offset = this.lineFeeds = this.lineBytes = this.headers = 0;
        continue;
      }
      const byte = data[at++]!;
      this.offset++;
      if (this.offset <= 2 && byte === 0x2d) {
        // `--` right after a delimiter closes the body: what follows is the epilogue.
        if (this.offset === 2) this.state = 'done';
        continue;
      }
      if (byte === 0x0a) {
        if (this.lineFeeds++ === 0) {
          // The end of the delimiter's own line.
        } else if (this.lineBytes === 0) {
          this.state = 'body';
        } else if (++this.headers > this.maxHeaders) {
          return false;
        }
        this.lineBytes = 0;
      } else if (byte !== 0x0d) {
        this.lineBytes++;
      }
    }
    return true;
  }
}

/** The `boundary` parameter of a multipart `Content-Type`, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType ?? '');
  return match?.[1] ?? match?.[2];
}
