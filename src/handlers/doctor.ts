// GET /api/diagnostics/doctor: the doctor's checks run inside the app, with its own identity, storage access and
// Key Vault references as the platform resolved them — what a check from another machine cannot see. The report
// is redacted (no secret, no token) and nothing is sent.
import type { HttpHandler } from '@azure/functions';
import { ConfigError } from '../config/load-config';
import { appDoctorDeps } from '../doctor/defaults';
import type { DoctorDeps } from '../doctor/run-checks';
import { runChecks } from '../doctor/run-checks';

/** The app settings the configuration was read from; building the app's parts from them may fail (ConfigError). */
export type AppSettings = () => { settings: Record<string, string | undefined> };

export function createRunDoctorHandler(app: AppSettings): HttpHandler {
  return createDoctorHandler(() => appDoctorDeps(appSettings(app)));
}

export function createDoctorHandler(deps: () => DoctorDeps): HttpHandler {
  return async () => {
    const report = await runChecks(deps());
    // 503 while anything fails, so a probe or a pipeline step can gate on the status alone.
    return { status: report.ok ? 200 : 503, jsonBody: report };
  };
}

/**
 * The settings the app runs with, for the doctor: the app's own (the sandbox builds them from more than the
 * environment), or the environment when settings the doctor is there to report keep the app's parts from being built.
 */
function appSettings(app: AppSettings): Record<string, string | undefined> {
  try {
    return app().settings;
  } catch (error) {
    if (error instanceof ConfigError) return process.env;
    throw error;
  }
}
