// The states a message goes through, named once: the status store's type and the status view's schema
// (and so the API description) both come from this list.
// `bounced`: sent, and then every recipient's mail server reported it undeliverable (delivery reports).
export const MAIL_STATES = ['queued', 'sending', 'sent', 'failed', 'deferred', 'bounced'] as const;

export type MailState = (typeof MAIL_STATES)[number];

/** Nothing changes a message in these states: a later copy of it is dropped. */
export const FINAL_STATES: readonly MailState[] = ['sent', 'failed', 'bounced'];

export function isFinal(state: MailState): boolean {
  return FINAL_STATES.includes(state);
}
