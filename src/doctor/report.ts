// What the doctor found: one line per check, each failure with the step that fixes it.

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable key for machine output, e.g. "token" or "smtp:noreply@contoso.com". */
  id: string;
  status: CheckStatus;
  /** One line: what was checked and, briefly, the outcome. */
  title: string;
  /** Further lines worth reading (claims, server replies, problems). Never a secret or a token. */
  details?: string[];
  /** For a failure or a skip: what to do about it. */
  fix?: string;
  /** Structured facts for --json (token claims and the like). */
  data?: Record<string, unknown>;
}

export interface DoctorReport {
  /** True only when no check failed (skipped checks do not count against it). */
  ok: boolean;
  checks: CheckResult[];
}

export const pass = (id: string, title: string, more: Partial<CheckResult> = {}): CheckResult => ({ id, status: 'pass', title, ...more });
export const fail = (id: string, title: string, fix: string, more: Partial<CheckResult> = {}): CheckResult => ({
  id,
  status: 'fail',
  title,
  fix,
  ...more,
});
export const skip = (id: string, title: string, fix?: string, more: Partial<CheckResult> = {}): CheckResult => ({
  id,
  status: 'skip',
  title,
  ...(fix ? { fix } : {}),
  ...more,
});

export function report(checks: CheckResult[]): DoctorReport {
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}
