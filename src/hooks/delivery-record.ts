// The replay record of signed hooks: one row per delivery a signature vouched for — the Standard Webhooks webhook-id,
// or for GitHub, which signs neither an id nor a time, the body's SHA-256 — written insert-if-absent in the status
// table before the delivery is handled. A second presentation of a delivery (the sender's retry, or someone replaying
// a captured one) is answered with the mails the first one made and sends nothing; while the first is still being
// handled it is refused. A delivery that was refused or failed leaves no row, so the sender's retry is handled anew.
// Rows are kept like status records: a GitHub body presented again, however late, is never a new mail.
import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';

// Message ids start with a letter or digit, so this partition can never hold a status record.
const PARTITION = '~hook-delivery';
/** How long a delivery being handled holds its row: far longer than handling takes, so a crashed instance's lapses. */
export const HANDLING_LEASE_MS = 2 * 60 * 1000;

/** A delivery seen for the first time (or whose handler stopped): report how it ended. */
export interface NewDelivery {
  state: 'new';
  /** Accepted: these mails are what a repeat is answered with. */
  accepted(mailIds: readonly string[]): Promise<void>;
  /** Refused or failed: a retry is handled anew. */
  abandon(): Promise<void>;
}

export type DeliveryClaim = NewDelivery | { state: 'accepted'; mailIds: string[] } | { state: 'handling'; retryAfterSeconds: number };

export interface DeliveryRecords {
  claim(template: string, deliveryKey: string, now?: number): Promise<DeliveryClaim>;
}

interface Row {
  partitionKey: string;
  rowKey: string;
  state: 'handling' | 'accepted';
  since: string;
  mailIds?: string;
}

const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode;

export function createDeliveryRecords(table: TableClient): DeliveryRecords {
  return {
    async claim(template, deliveryKey, now = Date.now()) {
      const keys = { partitionKey: PARTITION, rowKey: `${template}|${createHash('sha256').update(deliveryKey).digest('hex')}` };
      const handling: Row = { ...keys, state: 'handling', since: new Date(now).toISOString() };
      const claimed = (etag: string): NewDelivery => ({
        state: 'new',
        async accepted(mailIds) {
          const row: Row = { ...keys, state: 'accepted', since: handling.since, mailIds: JSON.stringify(mailIds) };
          await table.updateEntity(row, 'Replace', { etag }).catch((error: unknown) => {
            // Taken over after our lease lapsed: the other handler made the same mails (the same keys) and records them.
            if (statusCode(error) !== 412) throw error;
          });
        },
        async abandon() {
          await table.deleteEntity(keys.partitionKey, keys.rowKey, { etag }).catch((error: unknown) => {
            // Gone or taken over meanwhile: nothing of ours to remove.
            if (statusCode(error) !== 404 && statusCode(error) !== 412) throw error;
          });
        },
      });
      // A row removed or taken over between the steps below is looked at again, a few times at most.
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          return claimed((await table.createEntity(handling)).etag!);
        } catch (error) {
          if (statusCode(error) !== 409) throw error;
        }
        let seen: Row & { etag: string };
        try {
          seen = await table.getEntity<Row>(keys.partitionKey, keys.rowKey);
        } catch (error) {
          if (statusCode(error) === 404) continue;
          throw error;
        }
        if (seen.state === 'accepted') return { state: 'accepted', mailIds: mailIdsOf(seen.mailIds) };
        const lapses = (Date.parse(seen.since) || 0) + HANDLING_LEASE_MS;
        if (lapses > now) return { state: 'handling', retryAfterSeconds: Math.ceil((lapses - now) / 1000) };
        try {
          return claimed((await table.updateEntity(handling, 'Replace', { etag: seen.etag })).etag!);
        } catch (error) {
          if (statusCode(error) !== 412 && statusCode(error) !== 404) throw error;
        }
      }
      return { state: 'handling', retryAfterSeconds: 1 };
    },
  };
}

function mailIdsOf(text: string | undefined): string[] {
  const ids: unknown = JSON.parse(text ?? '[]');
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
}
