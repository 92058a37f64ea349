import { addressOf, listOf, type Address, type MailRequest } from './mail-request';

export function emailDomain(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export function senderOf(mail: MailRequest): string {
  if (!mail.from) throw new Error('mail has no sender');
  return addressOf(mail.from).toLowerCase();
}

export function recipientsOf(mail: MailRequest): string[] {
  return [mail.to, mail.cc, mail.bcc].flatMap((list) => listOf<Address>(list).map(addressOf));
}
