/**
 * Which filesystems a file's identity may be checked on synchronously.
 *
 * A request answered from the content cache still checks the file (a `stat`) before sending its
 * kept bytes. On a local disk that stat is a lookup in the kernel's inode cache: sending it to
 * libuv's thread pool and back costs far more CPU than the lookup, most of a cached response's
 * cost (bench/README.md, bench/static.ts). On a network or FUSE filesystem a stat may wait on a
 * server, and a synchronous one would stall every request of the process; there it stays
 * asynchronous. So: synchronous only on a filesystem known to be local (Linux, by the magic
 * number `statfs` reports; an unknown or other platform's filesystem counts as remote), learnt
 * once per device.
 */
import fs from 'node:fs';

/** Linux `statfs` magic numbers of local disk and memory filesystems (linux/magic.h). */
const LOCAL_FILESYSTEMS = new Set([
  0xef53, // ext2, ext3, ext4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0x794c7630, // overlayfs (containers; its layers are local)
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
  0x52654973, // reiserfs
  0x3153464a, // jfs
]);

/** Device id → whether its filesystem is local; absent while unknown (being learnt). */
const verdicts = new Map<number, boolean>();
const learning = new Set<number>();

/**
 * True when files on device `dev` may be stat'ed synchronously. The first call for a device
 * answers false and learns its filesystem (from `file`, a path on it) in the background.
 */
export function canStatSynchronously(dev: number, file: string): boolean {
  const verdict = verdicts.get(dev);
  if (verdict !== undefined) return verdict;
  if (process.platform === 'linux' && !learning.has(dev)) {
    learning.add(dev);
    fs.statfs(file, (error, info) => {
      learning.delete(dev);
      // A failed statfs (the file just went away, say) decides nothing: the next request asks again.
      if (error === null) verdicts.set(dev, LOCAL_FILESYSTEMS.has(info.type));
    });
  }
  return false;
}
