/**
 * A byte count as a person reads it in a message: `10 MB`, `97.7 KB`, `900 bytes`. Binary units
 * (1 MB = 1024 KB), as upload forms and file browsers count them, to three significant digits
 * (so a limit and a size just over it still read apart: `1.1 MB`, `1.15 MB`).
 */
export function humanBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const units: Array<[number, string]> = [
    [1024 ** 3, 'GB'],
    [1024 ** 2, 'MB'],
    [1024, 'KB'],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) return `${Number((bytes / size).toPrecision(3))} ${unit}`;
  }
  return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
}
