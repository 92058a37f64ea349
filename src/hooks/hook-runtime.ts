// The template store and the signed hooks' replay record of a runtime, built on first use: one per process under the
// Functions host, one per test runtime.
import { join } from 'node:path';
import { APP_ROOT } from '../host-settings';
import type { Runtime } from '../runtime';
import { createTemplateStore, type TemplateStore } from './template-store';
import { createDeliveryRecords, type DeliveryRecords } from './delivery-record';

/** The templates shipped with the app: templates/ beside host.json, in the repository and in the package. */
export const TEMPLATES_DIRECTORY = join(APP_ROOT, 'templates');

const stores = new WeakMap<Runtime, TemplateStore>();

export function templateStoreOf(runtime: Runtime): TemplateStore {
  let store = stores.get(runtime);
  if (!store) {
    const { templateContainer, cacheSeconds } = runtime.config.hooks;
    store = createTemplateStore({
      directory: TEMPLATES_DIRECTORY,
      container: templateContainer ? runtime.storage.blobs.getContainerClient(templateContainer) : undefined,
      ttlMs: cacheSeconds * 1000,
    });
    stores.set(runtime, store);
  }
  return store;
}

const records = new WeakMap<Runtime, DeliveryRecords>();

export function deliveryRecordsOf(runtime: Runtime): DeliveryRecords {
  let store = records.get(runtime);
  if (!store) {
    store = createDeliveryRecords(runtime.storage.table(runtime.config.statusTable));
    records.set(runtime, store);
  }
  return store;
}
