// What a caller may send: as which mailboxes (its own list within MAIL_ALLOWED_SENDERS), its default sender, and
// optionally to which recipient domains. A sender nobody may use is an invalid field (400); one this caller may
// not use is forbidden (403), and the caller is told what it may use.
import type { MailRequest } from '../mail/mail-request';
import { addressOf } from '../mail/mail-request';
import type { FieldError } from '../validation/field-errors';
import { emailDomain, recipientsOf } from '../mail/addresses';
import { isAllowedSender } from '../mail/senders';
import type { Caller } from './caller-policy';
import type { AuthenticatedCaller } from './authenticate';
import { callbackUrlPolicyProblem } from '../mail/callback-url';

export interface GlobalSenders {
  allowedSenders: readonly string[];
  defaultSender?: string;
  /** Where callbacks may go (MAIL_CALLBACK_HOSTS); absent or empty: a request with a callbackUrl is refused. */
  callbacks?: { hosts: readonly string[] };
}

export type PolicyDecision =
  { ok: true; mail: MailRequest } | { ok: false; status: 400 | 403; title: string; detail: string; errors: FieldError[] };

export const FUNCTION_KEY_CALLER = 'function-key';

/** The implicit caller when the Functions host checks function keys: every key holder may use every allowed sender. */
export function functionKeyCaller(senders: GlobalSenders): AuthenticatedCaller {
  return {
    caller: { name: FUNCTION_KEY_CALLER, senders: [...senders.allowedSenders], defaultSender: senders.defaultSender, readAllStatus: true },
  };
}

/**
 * The sender and callback URL against the operator's lists, which the request schema cannot know: a URL or sender
 * nobody here may use, or no sender at all, is an invalid field like any other (400). Intake folds these into the
 * schema's own errors, so one answer lists every bad field.
 */
export function senderFieldProblems(mail: Pick<MailRequest, 'from' | 'callbackUrl'>, caller: Caller, global: GlobalSenders): FieldError[] {
  const problems: FieldError[] = [];
  const callbackProblem =
    mail.callbackUrl === undefined ? undefined : callbackUrlPolicyProblem(mail.callbackUrl, global.callbacks?.hosts ?? []);
  if (callbackProblem) problems.push({ field: 'callbackUrl', detail: callbackProblem });
  if (!mail.from) {
    if (!fallbackSender(caller, global)) problems.push({ field: 'from', detail: `required: no default sender for ${caller.name}` });
  } else if (!isAllowedSender(addressOf(mail.from), global.allowedSenders)) {
    problems.push({ field: 'from', detail: `${addressOf(mail.from)} is not an allowed sender (MAIL_ALLOWED_SENDERS)` });
  }
  return problems;
}

const mayUse = (address: string, caller: Caller, global: GlobalSenders) =>
  isAllowedSender(address, caller.senders) && isAllowedSender(address, global.allowedSenders);

function fallbackSender(caller: Caller, global: GlobalSenders): string | undefined {
  return [caller.defaultSender, global.defaultSender].find((s) => s !== undefined && mayUse(s, caller, global));
}

export function applySenderPolicy(mail: MailRequest, { caller }: AuthenticatedCaller, global: GlobalSenders): PolicyDecision {
  const problems = senderFieldProblems(mail, caller, global);
  if (problems.length > 0) {
    return { ok: false, status: 400, title: 'Invalid mail request', detail: `${problems.length} field(s) are invalid.`, errors: problems };
  }
  const withSender = mail.from ? mail : { ...mail, from: fallbackSender(caller, global)! };
  const sender = addressOf(withSender.from!);
  // Allowed here (an invalid field above otherwise), but not for this caller: forbidden.
  if (!mayUse(sender, caller, global)) {
    return forbidden(caller, `${sender} is not a sender ${caller.name} may use.`, [
      { field: 'from', detail: `may send as: ${caller.senders.join(', ')}` },
    ]);
  }
  if (caller.recipientDomains) {
    const outside = recipientsOf(withSender).filter((r) => !caller.recipientDomains!.includes(emailDomain(r)));
    if (outside.length > 0) {
      return forbidden(caller, `${outside.length} recipient(s) outside the domains ${caller.name} may send to.`, [
        { field: 'to', detail: `may send to: ${caller.recipientDomains.join(', ')}; not: ${outside.slice(0, 10).join(', ')}` },
      ]);
    }
  }
  return { ok: true, mail: withSender };
}

function forbidden(caller: Caller, detail: string, errors: FieldError[]): PolicyDecision {
  return {
    ok: false,
    status: 403,
    title: 'Not allowed for this caller',
    detail: `${detail} (caller ${caller.name}, MAIL_CALLERS)`,
    errors,
  };
}
