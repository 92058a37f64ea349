// A pause of every mailbox of one tenant (sender profile), shared by every instance: Exchange's tenant-wide
// external recipient limit (5.7.233) stops the whole tenant, so one refusal pauses all its mailboxes rather than
// each finding out by being refused. The blob `tenant-<hash>/pause` holds the time it ends; each process reads it
// at most every refreshMs, so the pause costs one read per process and interval, not one per message.
import type { ContainerClient } from '@azure/storage-blob';
import { mailboxFolder, storageError } from './blobs';

export interface TenantPause {
  /** When the tenant's pause ends; a time already past when it is not paused. */
  until(): Promise<number>;
  pause(until: number): Promise<void>;
}

export interface TenantPauseOptions {
  container: ContainerClient;
  /** The sender profile's name: one tenant, one credential. */
  tenant: string;
  refreshMs?: number;
  now?: () => number;
}

export function createTenantPause(options: TenantPauseOptions): TenantPause {
  const { container, tenant, refreshMs = 30_000, now = Date.now } = options;
  const blob = container.getBlockBlobClient(`tenant-${mailboxFolder(`tenant:${tenant}`)}/pause`);
  let known = 0;
  let readAt = -Infinity;
  let reading: Promise<number> | undefined;

  const read = async (): Promise<number> => {
    try {
      const { until } = JSON.parse((await blob.downloadToBuffer()).toString('utf8')) as { until?: unknown };
      return typeof until === 'number' && Number.isFinite(until) ? until : 0;
    } catch (error) {
      // Not paused yet: no blob (a 404 to the size request that comes first has no error code).
      if (storageError(error).status === 404 || error instanceof SyntaxError) return 0;
      throw error;
    }
  };

  return {
    async until() {
      if (now() - readAt < refreshMs) return known;
      reading ??= read().finally(() => (reading = undefined));
      const until = await reading;
      known = Math.max(known, until);
      readAt = now();
      return known;
    },
    async pause(until) {
      if (until <= known) return;
      known = until;
      const body = JSON.stringify({ until });
      // Last writer wins: every writer pauses for the same policy's length from its own refusal.
      await blob.upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
    },
  };
}
