// GET /api/diagnostics/doctor: the doctor's checks run inside the app, with its own identity, storage access and
// Key Vault references as the platform resolved them — what a check from another machine cannot see. The report
// is redacted (no secret, no token) and nothing is sent.
import type { HttpHandler } from '@azure/functions';
import type { DoctorDeps } from '../doctor/run-checks';
import { runChecks } from '../doctor/run-checks';

export function createDoctorHandler(deps: () => DoctorDeps): HttpHandler {
  return async () => {
    const report = await runChecks(deps());
    // 503 while anything fails, so a probe or a pipeline step can gate on the status alone.
    return { status: report.ok ? 200 : 503, jsonBody: report };
  };
}
