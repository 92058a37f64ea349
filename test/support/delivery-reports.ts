// Delivery reports as mail servers write them, for the report reader's tests: Exchange Online's non-delivery report
// (RFC 3464 with the original's headers, In-Reply-To and References) and a delay notice as Postfix sends one.

export interface ReportFixture {
  /** The report's own Message-ID. */
  reportId: string;
  /** The Message-ID of the message reported on. */
  original: string;
  recipient: string;
  sender: string;
}

/** An Exchange Online NDR: recipient not found (5.1.1), the original's headers in text/rfc822-headers. */
export function exchangeNdr({ reportId, original, recipient, sender }: ReportFixture): string {
  return [
    'From: Microsoft Outlook <postmaster@contoso.onmicrosoft.com>',
    `To: <${sender}>`,
    'Date: Mon, 7 Dec 2026 22:10:05 +0000',
    'Subject: Undeliverable: Your order',
    `Message-ID: ${reportId}`,
    `In-Reply-To: ${original}`,
    `References: ${original}`,
    'MIME-Version: 1.0',
    'Auto-Submitted: auto-replied',
    'X-MS-Exchange-Message-Is-Ndr:',
    'Content-Type: multipart/report; report-type=delivery-status;',
    '\tboundary="_ndr_boundary_"',
    '',
    '--_ndr_boundary_',
    'Content-Type: text/plain; charset="us-ascii"',
    '',
    `Your message to ${recipient} couldn't be delivered.`,
    "The address couldn't be found, or is unable to receive email.",
    '',
    '--_ndr_boundary_',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com',
    'Received-From-MTA: dns;AM0PR01MB5678.eurprd01.prod.exchangelabs.com',
    'Arrival-Date: Mon, 7 Dec 2026 22:10:03 +0000',
    '',
    `Final-Recipient: rfc822;${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    'Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not',
    ' found by SMTP address lookup',
    'Remote-MTA: dns;fabrikam-com.mail.protection.outlook.com',
    'X-Display-Name: Nobody',
    '',
    '--_ndr_boundary_',
    'Content-Type: text/rfc822-headers',
    '',
    `Message-ID: ${original}`,
    `From: <${sender}>`,
    `To: <${recipient}>`,
    'Subject: Your order',
    'Date: Mon, 7 Dec 2026 22:10:00 +0000',
    'MIME-Version: 1.0',
    '',
    '--_ndr_boundary_--',
    '',
  ].join('\r\n');
}

/** A delay notice (action delayed, 4.4.1) carrying the whole original as message/rfc822, as Postfix sends it. */
export function delayNotice({ reportId, original, recipient, sender }: ReportFixture): string {
  return [
    'From: MAILER-DAEMON@mx.fabrikam.com (Mail Delivery System)',
    `To: ${sender}`,
    'Date: Mon, 7 Dec 2026 22:40:00 +0000',
    'Subject: Delayed Mail (still being retried)',
    `Message-ID: ${reportId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="delay.1"',
    '',
    '--delay.1',
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.fabrikam.com. Your message could not be delivered yet.',
    '',
    '--delay.1',
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.fabrikam.com',
    'X-Postfix-Queue-ID: 4ABCD1234',
    'Arrival-Date: Mon, 7 Dec 2026 22:10:04 +0000',
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    `Original-Recipient: rfc822;${recipient}`,
    'Action: delayed',
    'Status: 4.4.1',
    'Diagnostic-Code: X-Postfix; connect to inner.fabrikam.com[192.0.2.10]:25: Connection timed out',
    'Will-Retry-Until: Thu, 10 Dec 2026 22:10:04 +0000',
    '',
    '--delay.1',
    'Content-Description: Undelivered Message',
    'Content-Type: message/rfc822',
    '',
    `Message-ID: ${original}`,
    `From: ${sender}`,
    `To: ${recipient}`,
    'Subject: Your order',
    'MIME-Version: 1.0',
    'Content-Type: text/plain',
    '',
    'The body of the original message.',
    '',
    '--delay.1--',
    '',
  ].join('\r\n');
}

/** An ordinary message, as the sending mailbox also receives (replies, out-of-office notes, newsletters). */
export function ordinaryMessage(index: number, to: string): string {
  return [
    `From: Someone ${index} <someone${index}@example.net>`,
    `To: <${to}>`,
    `Subject: Message ${index}`,
    `Message-ID: <ordinary-${index}@example.net>`,
    'Date: Mon, 7 Dec 2026 20:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Hello, this is message ${index}. Undeliverable, failed, 5.1.1: words that must not make it a report.`,
    '',
  ].join('\r\n');
}
