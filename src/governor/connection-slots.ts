// SMTP connection slots per mailbox, shared by every instance of the app: slot k of a mailbox is the blob
// `<mailbox folder>/slot-<k>`, and holding its lease is the right to keep one connection open. A process that
// dies stops renewing, so its slots free themselves after leaseSeconds.
import { randomInt } from 'node:crypto';
import type { BlobLeaseClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import type { Logger } from '../logger';
import { mailboxFolder, storageError } from './blobs';

export interface Slot {
  readonly index: number;
  /** True once this process may no longer hold the lease: another instance may use the slot, so close the connection. */
  readonly lost: boolean;
  /** Gives the slot back. Never rejects: if the call fails, the lease lapses by itself within leaseSeconds. */
  release(): Promise<void>;
}

export interface ConnectionSlots {
  /** A free slot of the mailbox, leased and kept renewed until release(); undefined when all are taken. */
  tryAcquire(mailbox: string): Promise<Slot | undefined>;
}

export interface ConnectionSlotsOptions {
  container: ContainerClient;
  slotsPerMailbox: number;
  /** Lease duration, 15–60 s (Azure's range): how long a crashed holder blocks its slot. */
  leaseSeconds?: number;
  /** Renewal period; default a third of the lease, so one failed renewal can be retried before it lapses. */
  renewEveryMs?: number;
  log?: Pick<Logger, 'warn'>;
}

export function createConnectionSlots(options: ConnectionSlotsOptions): ConnectionSlots {
  const { container, slotsPerMailbox, leaseSeconds = 30, log = console } = options;
  const leaseMs = leaseSeconds * 1000;
  const renewEveryMs = options.renewEveryMs ?? leaseMs / 3;
  if (!Number.isInteger(slotsPerMailbox) || slotsPerMailbox < 1)
    throw new RangeError(`slotsPerMailbox must be a whole number ≥ 1, got ${slotsPerMailbox}`);
  if (!Number.isInteger(leaseSeconds) || leaseSeconds < 15 || leaseSeconds > 60)
    throw new RangeError(`leaseSeconds must be a whole number from 15 to 60, got ${leaseSeconds}`);
  if (!(renewEveryMs > 0 && renewEveryMs < leaseMs))
    throw new RangeError(`renewEveryMs must be between 0 and the lease (${leaseMs} ms), got ${renewEveryMs}`);

  return {
    async tryAcquire(mailbox) {
      const folder = mailboxFolder(mailbox);
      // A random order spreads instances over the slots instead of all fighting over slot 0 first.
      for (const index of shuffled(slotsPerMailbox)) {
        const acquiredAt = Date.now();
        const lease = await tryLease(container.getBlockBlobClient(`${folder}/slot-${index}`), leaseSeconds);
        if (lease) return holdSlot(index, lease, acquiredAt, leaseMs, renewEveryMs, log);
      }
      return undefined;
    },
  };
}

/** Leases the slot blob, creating it on first use; undefined when another holder has it. */
async function tryLease(blob: BlockBlobClient, leaseSeconds: number): Promise<BlobLeaseClient | undefined> {
  const lease = blob.getBlobLeaseClient(); // a fresh random lease id, so an SDK retry of a landed acquire still succeeds
  for (let created = false; ; created = true) {
    try {
      await lease.acquireLease(leaseSeconds);
      return lease;
    } catch (error) {
      const { status, code } = storageError(error);
      if (status === 409) return undefined; // LeaseAlreadyPresent, or a lease still breaking
      if (code !== 'BlobNotFound' || created) throw error;
    }
    try {
      // Never overwrite: another instance may have created and leased it meanwhile, and a put over a leased blob fails.
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (error) {
      if (storageError(error).code !== 'BlobAlreadyExists') throw error;
    }
  }
}

function holdSlot(
  index: number,
  lease: BlobLeaseClient,
  acquiredAt: number,
  leaseMs: number,
  renewEveryMs: number,
  log: Pick<Logger, 'warn'>,
): Slot {
  let lost = false;
  let released = false;
  let renewedAt = acquiredAt; // when the last successful renewal was sent: the lease runs at least leaseMs from then
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> = Promise.resolve();

  const schedule = () => {
    timer = setTimeout(() => void (renewing = renew()), renewEveryMs);
    timer.unref(); // a held slot must not keep the process alive
  };
  const renew = async () => {
    const sentAt = Date.now();
    try {
      await lease.renewLease();
      renewedAt = sentAt;
    } catch (error) {
      if (released) return;
      // 404/409/412: the lease is gone (lapsed and taken, broken, blob deleted). Other failures (network, 5xx after
      // the SDK's own retries) are retried at the next tick, but only if the lease cannot lapse before it.
      const status = storageError(error).status;
      if (status === 404 || status === 409 || status === 412 || Date.now() + renewEveryMs - renewedAt >= leaseMs) {
        lost = true;
        log.warn(
          `Connection slot ${index}: lease lost (${error instanceof Error ? error.message : String(error)}); the connection must close.`,
        );
        return;
      }
    }
    if (!released) schedule();
  };
  schedule();

  return {
    index,
    get lost() {
      return lost;
    },
    async release() {
      if (released) return;
      released = true;
      clearTimeout(timer);
      await renewing; // a renewal landing after the release would take the lease again
      try {
        await lease.releaseLease();
      } catch (error) {
        // 409/412: the lease already lapsed (and may belong to someone else now). Anything else: it lapses by itself.
        const status = storageError(error).status;
        if (status !== 409 && status !== 412)
          log.warn(`Connection slot ${index}: release failed, the lease lapses within ${leaseMs / 1000} s: ${String(error)}`);
      }
    },
  };
}

/** 0..n-1 in random order (Fisher–Yates). */
function shuffled(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
