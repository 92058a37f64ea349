// The doctor wired to the app's own parts: the same token source, storage clients and TLS settings it sends with.
import { createTokenSource } from '../identity/token-source';
import { createStorageClients } from '../storage/clients';
import type { DoctorDeps } from './run-checks';
import { probeSmtp } from './smtp-probe';

export function appDoctorDeps(env: Record<string, string | undefined>): DoctorDeps {
  return { env, createTokenSource, createStorageClients, probeSmtp };
}
