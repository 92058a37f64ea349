// What a caller may send: as which mailboxes (its own list within MAIL_ALLOWED_SENDERS), its default sender, and
// optionally to which recipient domains. A sender nobody may use is an invalid field (400); one this caller may
// not use is forbidden (403), and the caller is told what it may use.
import type { MailRequest } from '../mail/mail-request';
import { addressOf, type FieldError } from '../mail/mail-request';
import { emailDomain, recipientsOf } from '../mail/addresses';
import { isAllowedSender } from '../mail/senders';
import type { Caller } from './caller-policy';
import type { AuthenticatedCaller } from './authenticate';
import { callbackUrlPolicyProblem } from '../callbacks/callback-url';

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

export function applySenderPolicy(mail: MailRequest, { caller }: AuthenticatedCaller, global: GlobalSenders): PolicyDecision {
  // The operator's allow-list, which the request schema cannot know: a URL elsewhere is an invalid field.
  const callbackProblem =
    mail.callbackUrl === undefined ? undefined : callbackUrlPolicyProblem(mail.callbackUrl, global.callbacks?.hosts ?? []);
  if (callbackProblem) {
    return {
      ok: false,
      status: 400,
      title: 'Invalid mail request',
      detail: '1 field(s) are invalid.',
      errors: [{ field: 'callbackUrl', detail: callbackProblem }],
    };
  }
  const mayUse = (address: string) => isAllowedSender(address, caller.senders) && isAllowedSender(address, global.allowedSenders);
  let withSender = mail;
  if (!mail.from) {
    const fallback = [caller.defaultSender, global.defaultSender].find((s) => s !== undefined && mayUse(s));
    if (!fallback) {
      return {
        ok: false,
        status: 400,
        title: 'Invalid mail request',
        detail: '1 field(s) are invalid.',
        errors: [{ field: 'from', detail: `required: no default sender for ${caller.name}` }],
      };
    }
    withSender = { ...mail, from: fallback };
  }
  const sender = addressOf(withSender.from!);
  // Nobody here may send as it: an invalid field. Someone may, but not this caller: forbidden.
  if (!isAllowedSender(sender, global.allowedSenders)) {
    return {
      ok: false,
      status: 400,
      title: 'Invalid mail request',
      detail: '1 field(s) are invalid.',
      errors: [{ field: 'from', detail: `${sender} is not an allowed sender (MAIL_ALLOWED_SENDERS)` }],
    };
  }
  if (!mayUse(sender)) {
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
