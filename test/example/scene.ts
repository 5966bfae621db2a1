import sharp from 'sharp';
import { allowDecoders } from '../../src/imaging/decoders.js';

// Drawn from SVG, which the library's decoder allow-list leaves out by default (docs/uploads.md):
// whoever draws a scene (tests, benches, the example's screenshots) needs it.
allowDecoders(['image/svg+xml']);

/** A photo-like JPEG: a sunset gradient with a sun and hills, so screenshots show something. */
export async function sceneJpeg(width: number, height: number, hue = 20): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="hsl(${hue + 200},60%,35%)"/><stop offset="1" stop-color="hsl(${hue},85%,70%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#sky)"/>
    <circle cx="${width * 0.68}" cy="${height * 0.55}" r="${height * 0.16}" fill="hsl(${hue + 30},95%,75%)"/>
    <path d="M0 ${height * 0.75} Q ${width * 0.3} ${height * 0.55} ${width * 0.6} ${height * 0.78} T ${width} ${height * 0.7} V ${height} H 0 Z" fill="hsl(${hue + 140},35%,25%)"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer();
}
