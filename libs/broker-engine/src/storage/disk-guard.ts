import { statfsSync } from 'node:fs';
import { InsufficientDiskSpaceError } from '../errors';

const DISK_CHECK_INTERVAL_MS = 1000;

export interface DiskGuardOptions {
  dataDir: string;
  /** 0 turns the guard off. */
  minFreeDiskBytes: number;
  /** Reads the free bytes of `dir`; the file system's own figure when absent. */
  freeDiskBytes?: (dir: string) => number;
}

/**
 * Refuses publishes while the data directory's disk has less than `minFreeDiskBytes` free. The file system is asked
 * at most once a second: a publish path that asked every time would pay a system call per batch.
 */
export class DiskGuard {
  private checkedAt = 0;
  private error: Error | null = null;

  constructor(private readonly options: DiskGuardOptions) {}

  /** The error a publish must fail with now, or null. */
  check(): Error | null {
    const { minFreeDiskBytes, dataDir } = this.options;
    if (minFreeDiskBytes === 0) return null;
    const now = Date.now();
    if (now - this.checkedAt < DISK_CHECK_INTERVAL_MS) return this.error;
    this.checkedAt = now;
    const free = this.freeBytes(dataDir);
    this.error = free < minFreeDiskBytes ? new InsufficientDiskSpaceError(free, minFreeDiskBytes) : null;
    return this.error;
  }

  private freeBytes(dir: string): number {
    if (this.options.freeDiskBytes) return this.options.freeDiskBytes(dir);
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  }
}
