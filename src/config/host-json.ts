// The queue settings of host.json, which the Functions host applies and the local host imitates.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_ROOT } from '../app-root';

export interface QueueHostSettings {
  batchSize: number;
  newBatchThreshold: number;
  maxDequeueCount: number;
  visibilityTimeoutMs: number;
  maxPollingIntervalMs: number;
  messageEncoding: 'base64' | 'none';
  /** Local host only: how long a message stays invisible while its function runs (the host uses 10 minutes). */
  processingVisibilityMs?: number;
}

/** The part of host.json we read: extensions.queues, as the host documents it. */
interface HostJsonQueues {
  batchSize?: number;
  newBatchThreshold?: number;
  maxDequeueCount?: number;
  visibilityTimeout?: string;
  maxPollingInterval?: string;
  messageEncoding?: string;
}

export function readQueueHostSettings(hostJsonPath = join(APP_ROOT, 'host.json')): QueueHostSettings {
  const hostJson = JSON.parse(readFileSync(hostJsonPath, 'utf8')) as { extensions?: { queues?: HostJsonQueues } } | null;
  const queues = hostJson?.extensions?.queues ?? {};
  const batchSize = queues.batchSize ?? 16;
  return {
    batchSize,
    newBatchThreshold: queues.newBatchThreshold ?? Math.floor(batchSize / 2),
    maxDequeueCount: queues.maxDequeueCount ?? 5,
    visibilityTimeoutMs: timeSpanMs(queues.visibilityTimeout ?? '00:00:00'),
    maxPollingIntervalMs: timeSpanMs(queues.maxPollingInterval ?? '00:01:00'),
    messageEncoding: queues.messageEncoding === 'none' ? 'none' : 'base64',
  };
}

/** host.json time spans are "hh:mm:ss" (optionally with fractions). */
export function timeSpanMs(value: string): number {
  const match = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value);
  if (!match) throw new Error(`host.json: "${value}" is not a hh:mm:ss time span`);
  return ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1000;
}
