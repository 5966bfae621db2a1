/**
 * Reading a file's structure (segment and chunk headers) by position, from 64 KiB blocks: one
 * read per block, never one read and one Buffer per header, so walking a file of many tiny
 * segments costs what walking its bytes does.
 */
import type { FileHandle } from 'node:fs/promises';

/** Reads `length` bytes at `position` (fewer at the end of the input). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

/** {@link ReadAt} over an open file of `size` bytes. */
export function fileReadAt(handle: FileHandle, size: number): ReadAt {
  return async (position, length) => {
    const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - position)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    return buffer.subarray(0, bytesRead);
  };
}

/** {@link ReadAt} over bytes in memory (no copy). */
export function bytesReadAt(bytes: Buffer): ReadAt {
  return async (position, length) => bytes.subarray(position, position + length);
}

const BLOCK = 64 * 1024;

/** The input's bytes by position, read a block at a time; segment headers cost no read of their own. */
export class BlockReader {
  private block: Buffer = Buffer.alloc(0);
  private blockStart = 0;

  constructor(
    private readonly readAt: ReadAt,
    readonly size: number,
  ) {}

  /**
   * Makes bytes `position` to `position + length` readable with the accessors below; false when
   * the input ends before (what it has is readable).
   */
  async ensure(position: number, length: number): Promise<boolean> {
    const offset = position - this.blockStart;
    if (offset < 0 || offset + length > this.block.length) {
      if (offset >= 0 && this.blockStart + this.block.length >= this.size) return position + length <= this.size;
      this.block = await this.readAt(position, Math.max(length, BLOCK));
      this.blockStart = position;
    }
    return position + length <= this.size;
  }

  /** The rest of the current block from `position` (after `ensure`), for searching. */
  view(position: number): Buffer {
    return this.block.subarray(position - this.blockStart);
  }

  u8(position: number): number {
    return this.block[position - this.blockStart]!;
  }

  u16be(position: number): number {
    return this.block.readUInt16BE(position - this.blockStart);
  }

  u32be(position: number): number {
    return this.block.readUInt32BE(position - this.blockStart);
  }

  u32le(position: number): number {
    return this.block.readUInt32LE(position - this.blockStart);
  }

  latin1(position: number, length: number): string {
    const at = position - this.blockStart;
    return this.block.toString('latin1', at, at + length);
  }

  /** A copy of bytes already made readable, to rewrite. */
  copy(position: number, length: number): Buffer {
    const at = position - this.blockStart;
    return Buffer.from(this.block.subarray(at, at + length));
  }
}
