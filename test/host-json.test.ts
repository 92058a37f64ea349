// host.json's queue settings against what the delivery relies on and the limits the queue service sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readQueueHostSettings } from '../src/config/host-json';
import { COME_BACK_EARLY_MS } from '../src/delivery/message-worker';

/** Get Messages returns at most 32 messages; the host refuses a larger batchSize. */
const QUEUE_MAX_BATCH = 32;

test('a message deferred to its turn is polled before its turn: maxPollingInterval is at most the time it comes back early', () => {
  const host = readQueueHostSettings();
  assert.ok(
    host.maxPollingIntervalMs <= COME_BACK_EARLY_MS,
    `maxPollingInterval ${host.maxPollingIntervalMs} ms would let a message that comes back ${COME_BACK_EARLY_MS} ms early miss its turn`,
  );
});

test('batchSize is within what one receive returns, and newBatchThreshold does not exceed it', () => {
  const host = readQueueHostSettings();
  assert.ok(host.batchSize >= 1 && host.batchSize <= QUEUE_MAX_BATCH, `batchSize ${host.batchSize}`);
  assert.ok(host.newBatchThreshold >= 0 && host.newBatchThreshold <= host.batchSize, `newBatchThreshold ${host.newBatchThreshold}`);
});
