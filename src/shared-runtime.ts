// The process's one runtime, for the function registrations. Its module, and the SDKs it is built on, is imported
// when a function first runs (loadRuntimeModule), not when the host loads the app: loading the functions stays cheap,
// and an instance pays only for what the functions it actually runs need.
import type { Runtime } from './runtime';

let runtimeModule: typeof import('./runtime') | undefined;

export async function loadRuntimeModule(): Promise<void> {
  runtimeModule ??= await import('./runtime.js');
}

/** The shared runtime, built at first use. Lazily loaded handlers (hosting/function-definition.ts) load its module before they call this. */
export function sharedRuntime(): Runtime {
  if (!runtimeModule) throw new Error('the runtime module is not loaded yet (loadRuntimeModule)');
  return runtimeModule.sharedRuntime();
}
