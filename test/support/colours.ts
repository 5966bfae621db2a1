/**
 * Pictures of one colour, to tell which picture a thumbnail was made of by its pixels.
 */
import sharp from 'sharp';

/** A plain JPEG of one colour. */
export function solid(width: number, height: number, colour: string): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** 'red' or 'blue': the stronger of the two channels of an image's pixels. */
export async function colourOf(bytes: Buffer): Promise<'red' | 'blue'> {
  const { channels } = await sharp(bytes).stats();
  return channels[0]!.mean > channels[2]!.mean ? 'red' : 'blue';
}
