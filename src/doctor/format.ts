// The report for a person (a checklist) or a program (--json).
import type { CheckResult, DoctorReport } from './report';

const MARK: Record<CheckResult['status'], string> = { pass: '✓', fail: '✗', skip: '–' };

export function formatText(report: DoctorReport): string {
  const lines: string[] = [];
  for (const check of report.checks) {
    lines.push(`${MARK[check.status]} ${check.title}`);
    for (const detail of check.details ?? []) lines.push(`    ${detail}`);
    if (check.fix) lines.push(`    → ${check.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const skipped = report.checks.filter((c) => c.status === 'skip').length;
  const notChecked = skipped > 0 ? ` (${skipped} not checked)` : '';
  lines.push('', failed === 0 ? `All checks passed${notChecked}.` : `${failed} of ${report.checks.length} checks failed${notChecked}.`);
  return lines.join('\n');
}

export function formatJson(report: DoctorReport, source?: string): string {
  return JSON.stringify({ ...(source ? { source } : {}), ...report }, null, 2);
}
