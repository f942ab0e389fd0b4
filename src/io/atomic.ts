// Crash-safe file replacement: write a temporary file in the destination's folder, flush it to disk, then
// rename it over the destination (rename within one filesystem is atomic on POSIX). A reader sees either the
// old file or the complete new one, never a torn write.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Best effort: persist the rename itself (directory entry). Not supported on every platform. */
function fsyncDirSync(dir: string): void {
  let fd: number | null = null;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* e.g. Windows: directories cannot be opened */ } finally { if (fd !== null) closeSync(fd); }
}

/** Largest piece handed to one write call (a single Node write takes under 2 GiB). */
const MAX_WRITE = 1 << 30;

/**
 * Create `path` atomically from a writer: `fill` writes into a temporary file in the same folder (through the
 * handle it is given), which is then fsynced and renamed over `path`; on any error the temp file is removed.
 */
export async function writeAtomicWith(path: string, fill: (write: (bytes: Uint8Array, position?: number) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = tempPath(path);
  let renamed = false;
  try {
    const handle = await open(tmp, 'w', 0o644);
    try {
      await fill(async (bytes, position) => {
        let off = 0;
        while (off < bytes.byteLength) {
          const { bytesWritten } = await handle.write(bytes, off, Math.min(bytes.byteLength - off, MAX_WRITE), position === undefined ? null : position + off);
          off += bytesWritten;
        }
      });
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    renamed = true;
    fsyncDirSync(dirname(path));
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/** Synchronous variant of {@link writeAtomicWith}. */
export function writeAtomicWithSync(path: string, fill: (write: (bytes: Uint8Array, position?: number) => void) => void): void {
  const tmp = tempPath(path);
  let renamed = false;
  try {
    const fd = openSync(tmp, 'w', 0o644);
    try {
      fill((bytes, position) => {
        let off = 0;
        while (off < bytes.byteLength) off += writeSync(fd, bytes, off, Math.min(bytes.byteLength - off, MAX_WRITE), position === undefined ? null : position + off);
      });
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    renamed = true;
    fsyncDirSync(dirname(path));
  } finally {
    if (!renamed) { try { unlinkSync(tmp); } catch { /* never created */ } }
  }
}

/** Write `bytes` to `path` atomically (temp file in the same folder + fsync + rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await writeAtomicWith(path, (write) => write(bytes));
}

/** Synchronous variant of {@link writeFileAtomic}. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  writeAtomicWithSync(path, (write) => write(bytes));
}
