// A caller's optional daily message quota: one small counter per principal and UTC day in Table storage, updated
// under its etag so concurrent instances never both take the last message.
import type { TableClient } from '@azure/data-tables';
import type { Caller } from './caller-policy';

// Message ids start with a letter or digit, so this partition can never hold a status record.
const PARTITION = '~quota';
const MAX_TRIES = 8;

export type QuotaResult = { ok: true; refund(): Promise<void> } | { ok: false; used: number; limit: number };

export interface DailyQuota {
  /** One message of `caller`'s quota for `principal` (each application of an entraRole entry has its own count). */
  take(caller: Caller, principal: string, now?: Date): Promise<QuotaResult>;
}

const statusCode = (error: unknown) => (error as { statusCode?: number }).statusCode;

export function createDailyQuota(table: TableClient): DailyQuota {
  const change = async (rowKey: string, delta: number, limit: number): Promise<{ ok: boolean; used: number }> => {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      let current: { count: number; etag?: string };
      try {
        const entity = await table.getEntity<{ count: number }>(PARTITION, rowKey);
        current = { count: entity.count, etag: entity.etag };
      } catch (error) {
        if (statusCode(error) !== 404) throw error;
        current = { count: 0 };
      }
      if (delta > 0 && current.count + delta > limit) return { ok: false, used: current.count };
      const count = Math.max(0, current.count + delta);
      try {
        if (current.etag) await table.updateEntity({ partitionKey: PARTITION, rowKey, count }, 'Replace', { etag: current.etag });
        else await table.createEntity({ partitionKey: PARTITION, rowKey, count });
        return { ok: true, used: count };
      } catch (error) {
        if (statusCode(error) !== 412 && statusCode(error) !== 409) throw error;
      }
    }
    throw new Error(`daily quota counter ${rowKey} stayed contended`);
  };
  return {
    async take(caller, principal, now = new Date()) {
      if (caller.dailyQuota === undefined) return { ok: true, refund: () => Promise.resolve() };
      const rowKey = `${principal}|${now.toISOString().slice(0, 10)}`;
      const taken = await change(rowKey, 1, caller.dailyQuota);
      if (!taken.ok) return { ok: false, used: taken.used, limit: caller.dailyQuota };
      return { ok: true, refund: async () => void (await change(rowKey, -1, caller.dailyQuota!)) };
    },
  };
}
