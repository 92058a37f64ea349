// Helpers shared by the governor's blob-based coordination (connection slots and rate limiter).
import { createHash } from 'node:crypto';
import { RestError } from '@azure/storage-blob';

/** The blob folder of a mailbox: a hash, so addresses stay out of blob names and case does not split the limits. */
export function mailboxFolder(mailbox: string): string {
  return createHash('sha256').update(mailbox.toLowerCase()).digest('hex').slice(0, 32);
}

/** The storage error code (`LeaseAlreadyPresent`, `ConditionNotMet`, ...) and HTTP status of a failed call. */
export function storageError(error: unknown): { status?: number; code?: string } {
  return error instanceof RestError ? { status: error.statusCode, code: error.code } : {};
}
