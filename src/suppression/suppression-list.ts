// The suppression list: addresses that bounced hard, kept per sender profile (the partition) so one tenant's bounce
// does not silence another's. Stored in the status table as one entity per address; the row key is the address as
// intake would take it (lowercase ASCII, checked by the same schema), percent-encoded so that the characters a row key
// may not hold ('/', '\', '#', '?') cannot reach the table.
import type { TableClient } from '@azure/data-tables';
import { emailAddressSchema } from '../mail/mail-request';

/** The profile of mails sent without one (the app's own sender identity). */
export const DEFAULT_PROFILE = 'default';
// In the status table beside ~quota: message ids start with a letter or digit, so no status record shares it.
const PARTITION_PREFIX = '~suppressed~';
/** Profile names as the sender profiles name them; anything else is refused before a key is built. */
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const REASON_CHARS = 300;
export const MAX_PAGE = 100;

export interface Suppression {
  profile: string;
  address: string;
  /** The enhanced status code that put it here, such as 5.1.1. */
  status: string;
  /** The diagnostic code of the report, cut short; never a body. */
  reason?: string;
  /** The message whose report it was. */
  messageId?: string;
  suppressedAt: string;
}

export class SuppressionKeyError extends Error {
  constructor(
    readonly field: 'profile' | 'address',
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** The address as intake accepts it, lowercased; anything intake would refuse is refused here too. */
export function normalizedAddress(address: string): string {
  const parsed = emailAddressSchema.safeParse(address.trim());
  if (!parsed.success)
    throw new SuppressionKeyError('address', 'not a valid email address (ASCII; internationalised domains as xn-- A-labels)');
  return parsed.data.toLowerCase();
}

function partitionOf(profile: string | undefined): string {
  const name = profile ?? DEFAULT_PROFILE;
  if (!PROFILE_NAME.test(name)) throw new SuppressionKeyError('profile', 'not a profile name (letters, digits, ".", "_", "-"; at most 64)');
  return `${PARTITION_PREFIX}${name.toLowerCase()}`;
}

const rowKeyOf = (address: string) => encodeURIComponent(normalizedAddress(address));

interface SuppressionEntity {
  partitionKey: string;
  rowKey: string;
  status: string;
  reason?: string;
  messageId?: string;
  suppressedAt: string;
}

function fromEntity(entity: SuppressionEntity): Suppression {
  return {
    profile: entity.partitionKey.slice(PARTITION_PREFIX.length),
    address: decodeURIComponent(entity.rowKey),
    status: entity.status,
    ...(entity.reason ? { reason: entity.reason } : {}),
    ...(entity.messageId ? { messageId: entity.messageId } : {}),
    suppressedAt: entity.suppressedAt,
  };
}

const isNotFound = (error: unknown) => (error as { statusCode?: number }).statusCode === 404;

export function createSuppressionList(table: Pick<TableClient, 'upsertEntity' | 'getEntity' | 'deleteEntity' | 'listEntities'>) {
  return {
    /** Puts the address on the list, or refreshes its entry (the latest bounce's reason and time). */
    async add(entry: Omit<Suppression, 'address' | 'profile'> & { address: string; profile?: string }): Promise<Suppression> {
      const entity: SuppressionEntity = {
        partitionKey: partitionOf(entry.profile),
        rowKey: rowKeyOf(entry.address),
        status: entry.status.slice(0, 16),
        ...(entry.reason ? { reason: entry.reason.slice(0, REASON_CHARS) } : {}),
        ...(entry.messageId ? { messageId: entry.messageId.slice(0, 100) } : {}),
        suppressedAt: entry.suppressedAt,
      };
      await table.upsertEntity(entity, 'Replace');
      return fromEntity(entity);
    },

    async get(profile: string | undefined, address: string): Promise<Suppression | undefined> {
      try {
        return fromEntity(await table.getEntity<SuppressionEntity>(partitionOf(profile), rowKeyOf(address)));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },

    /** True when there was an entry to remove. */
    async remove(profile: string | undefined, address: string): Promise<boolean> {
      try {
        await table.deleteEntity(partitionOf(profile), rowKeyOf(address));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
    },

    /** One page of a profile's entries, in address order; `continuation` from the previous page. */
    async list(
      profile: string | undefined,
      { pageSize = MAX_PAGE, continuation }: { pageSize?: number; continuation?: string } = {},
    ): Promise<{ entries: Suppression[]; continuation?: string }> {
      const size = Math.min(MAX_PAGE, Math.max(1, Math.floor(pageSize)));
      const filter = `PartitionKey eq '${partitionOf(profile)}'`;
      const pages = table
        .listEntities<SuppressionEntity>({ queryOptions: { filter } })
        .byPage({ maxPageSize: size, continuationToken: continuation });
      const page = (await pages.next()) as IteratorResult<SuppressionEntity[] & { continuationToken?: string }>;
      if (page.done || !page.value) return { entries: [] };
      return {
        entries: page.value.map(fromEntity),
        ...(page.value.continuationToken ? { continuation: page.value.continuationToken } : {}),
      };
    },
  };
}

export type SuppressionList = ReturnType<typeof createSuppressionList>;
