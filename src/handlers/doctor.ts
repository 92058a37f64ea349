// GET /api/diagnostics/doctor: the doctor's checks run inside the app, with its own identity, storage access and
// Key Vault references as the platform resolved them — what a check from another machine cannot see. The report
// is redacted (no secret, no token) and nothing is sent.
import type { HttpHandler } from '@azure/functions';
import { ConfigError } from '../config';
import { appDoctorDeps } from '../doctor/defaults';
import type { DoctorDeps } from '../doctor/run-checks';
import { runChecks } from '../doctor/run-checks';
import type { Runtime } from '../runtime';

export function createRunDoctorHandler(runtime: () => Runtime): HttpHandler {
  return createDoctorHandler(() => appDoctorDeps(appSettings(runtime)));
}

export function createDoctorHandler(deps: () => DoctorDeps): HttpHandler {
  return async () => {
    const report = await runChecks(deps());
    // 503 while anything fails, so a probe or a pipeline step can gate on the status alone.
    return { status: report.ok ? 200 : 503, jsonBody: report };
  };
}

/**
 * The settings the app runs with, for the doctor: the runtime's own (the sandbox builds it from more than the
 * environment), or the environment when settings the doctor is there to report keep the runtime from being built.
 */
function appSettings(runtime: () => Runtime): Record<string, string | undefined> {
  try {
    return runtime().settings;
  } catch (error) {
    if (error instanceof ConfigError) return process.env;
    throw error;
  }
}
