// The hooks' long-lived parts: the template store (templates/ and MAIL_TEMPLATE_CONTAINER) and the signed hooks'
// replay record. Built once per app (hosting/app-services.ts), at the first hook request: only then is the template engine loaded.
import { join } from 'node:path';
import { APP_ROOT } from '../app-root';
import type { StorageClients } from '../storage/clients';
import type { HookConfig } from './hook-policy';
import { createTemplateStore, type TemplateStore } from './template-store';
import { createDeliveryRecords, type DeliveryRecords } from './delivery-record';

/** The templates shipped with the app: templates/ beside host.json, in the repository and in the package. */
export const TEMPLATES_DIRECTORY = join(APP_ROOT, 'templates');

export interface HookStores {
  templates: TemplateStore;
  deliveries: DeliveryRecords;
}

export function createHookStores(config: { hooks: HookConfig; statusTable: string }, storage: StorageClients): HookStores {
  const { templateContainer, cacheSeconds } = config.hooks;
  return {
    templates: createTemplateStore({
      directory: TEMPLATES_DIRECTORY,
      container: templateContainer ? storage.blobs.getContainerClient(templateContainer) : undefined,
      ttlMs: cacheSeconds * 1000,
    }),
    deliveries: createDeliveryRecords(storage.table(config.statusTable)),
  };
}
