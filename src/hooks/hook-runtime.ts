// The template store of a runtime, built on first use: one per process under the Functions host, one per test runtime.
import { join } from 'node:path';
import { APP_ROOT } from '../host-settings';
import type { Runtime } from '../runtime';
import { createTemplateStore, type TemplateStore } from './template-store';

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
