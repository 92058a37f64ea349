// The app's services of this process, for the function registrations. Their module, and the SDKs they are built on,
// is imported when a function first runs (loadAppServicesModule), not when the host loads the app: loading the
// functions stays cheap, and an instance pays only for what the functions it actually runs need.
import type { AppServices } from './app-services';

let servicesModule: typeof import('./app-services') | undefined;

export async function loadAppServicesModule(): Promise<void> {
  servicesModule ??= await import('./app-services.js');
}

/** This process's services, built at first use. Lazily loaded handlers (function-definition.ts) load the module first. */
export function processServices(): AppServices {
  if (!servicesModule) throw new Error('the app services module is not loaded yet (loadAppServicesModule)');
  return servicesModule.processServices();
}
