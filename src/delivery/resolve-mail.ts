// The mail an envelope carries: inline, or from its payload blob (claim check). A blob that is gone, is not
// JSON or is not a valid mail can never be sent, and says why; a storage failure throws.
import { checkLoadedMail, type Envelope } from '../mail/envelope';
import type { MailRequest } from '../mail/mail-request';
import type { Outbox } from '../storage/outbox';

export async function resolveMail(envelope: Envelope, outbox: Pick<Outbox, 'loadMail'>): Promise<MailRequest | { errors: string }> {
  const { mail, mailBlob } = envelope;
  if (mail) return mail;
  let loaded: unknown;
  try {
    loaded = await outbox.loadMail(mailBlob!);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return { errors: `payload blob ${mailBlob} does not exist` };
    if (error instanceof SyntaxError) return { errors: `payload blob ${mailBlob} is not JSON` };
    throw error;
  }
  const checked = checkLoadedMail(loaded);
  return checked.ok ? checked.mail : { errors: checked.errors.map((e) => `${e.field}: ${e.detail}`).join('; ') };
}
