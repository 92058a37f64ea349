// Delivery reports: what is read of them (RFC 3464 fields, strictly and within bounds) and what they change on a
// message's record (bounced, delayed, partial, read twice).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeliveryReport } from '../src/bounces/delivery-report';
import { MAX_REPORTED_RECIPIENTS, parseDeliveryStatus } from '../src/bounces/delivery-status';
import { uidSet } from '../src/bounces/report-reader';
import type { RecipientOutcome, StatusRecord } from '../src/status/status-store';
import { deliveryReported, MAX_RECIPIENT_OUTCOMES } from '../src/status/transitions';
import { delayNotice, exchangeNdr, ordinaryMessage } from './support/delivery-reports';

const SENDER = 'orders@contoso.com';
const fixture = {
  reportId: '<ndr-1@contoso.prod.outlook.com>',
  original: '<m-1@contoso.com>',
  recipient: 'nobody@fabrikam.com',
  sender: SENDER,
};

describe('delivery-status fields', () => {
  test('an Exchange NDR: recipient, action, status, diagnostic (unfolded), remote MTA, the original Message-ID', async () => {
    const parsed = await parseDeliveryReport(Buffer.from(exchangeNdr(fixture)));
    assert.ok('report' in parsed, JSON.stringify(parsed));
    assert.deepEqual(parsed.report, {
      reportId: fixture.reportId,
      originalMessageIds: [fixture.original],
      reportingMta: 'AM0PR01MB1234.eurprd01.prod.exchangelabs.com',
      recipients: [
        {
          recipient: 'nobody@fabrikam.com',
          action: 'failed',
          status: '5.1.1',
          diagnosticCode: '550 5.1.1 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
          remoteMta: 'fabrikam-com.mail.protection.outlook.com',
        },
      ],
    });
  });

  test('a delay notice with the whole original attached: the Message-ID from its headers, not its body', async () => {
    const parsed = await parseDeliveryReport(
      Buffer.from(delayNotice({ ...fixture, reportId: '<d-1@mx.fabrikam.com>', recipient: 'slow@fabrikam.com' })),
    );
    assert.ok('report' in parsed);
    assert.deepEqual(parsed.report.originalMessageIds, [fixture.original]);
    assert.deepEqual(
      parsed.report.recipients.map((r) => [r.recipient, r.originalRecipient, r.action, r.status]),
      [['slow@fabrikam.com', 'slow@fabrikam.com', 'delayed', '4.4.1']],
    );
  });

  test('what is not a delivery report says why: an ordinary message, a report of another type, a report without its status part', async () => {
    const cases: [string, RegExp][] = [
      [ordinaryMessage(1, SENDER), /not multipart\/report/],
      [exchangeNdr(fixture).replace('report-type=delivery-status', 'report-type=disposition-notification'), /not multipart\/report/],
      [
        exchangeNdr(fixture).replace('Content-Type: message/delivery-status', 'Content-Type: text/plain'),
        /0 message\/delivery-status parts/,
      ],
    ];
    for (const [raw, reason] of cases) {
      const parsed = await parseDeliveryReport(Buffer.from(raw));
      assert.ok('notAReport' in parsed && reason.test(parsed.notAReport), JSON.stringify(parsed));
    }
  });

  test('strict: each broken field is refused, naming what is wrong', () => {
    const block = (fields: string) => `Reporting-MTA: dns; mx.example.com\n\n${fields}\n`;
    const cases: [string, RegExp][] = [
      [block('Action: failed\nStatus: 5.1.1'), /no Final-Recipient/],
      [block('Final-Recipient: rfc822; a@b.example\nAction: bounced\nStatus: 5.1.1'), /Action must be one of/],
      [block('Final-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 6.1.1'), /Status must be a code/],
      [block('Final-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1234.1'), /Status must be a code/],
      [block('Final-Recipient: x400; /C=us/\nAction: failed\nStatus: 5.1.1'), /not an rfc822 address/],
      [block('Final-Recipient: rfc822; not an address\nAction: failed\nStatus: 5.1.1'), /not an rfc822 address/],
      [block('Final-Recipient: rfc822; a@b.example\nAction: failed\nAction: delivered\nStatus: 5.1.1'), /action appears 2 times/],
      [block('Final-Recipient: rfc822; a@b.example\nthis line is no field\nAction: failed\nStatus: 5.1.1'), /not a header field/],
      ['Reporting-MTA: dns; mx.example.com\n', /no per-recipient fields/],
    ];
    for (const [body, error] of cases) assert.throws(() => parseDeliveryStatus(body), error, body);
  });

  test('hostile: prototype names as fields change nothing, and size and recipient count are bounded', () => {
    const parsed = parseDeliveryStatus(
      'Reporting-MTA: dns; mx.example.com\n__proto__: polluted\n\nFinal-Recipient: rfc822; a@b.example\nconstructor: x\nAction: failed\nStatus: 5.1.1 (no such user)\n',
    );
    assert.deepEqual(parsed.recipients[0], { recipient: 'a@b.example', action: 'failed', status: '5.1.1' });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const recipient = (i: number) => `Final-Recipient: rfc822; r${i}@b.example\nAction: failed\nStatus: 5.1.1`;
    const many = (n: number) => ['Reporting-MTA: dns; mx', ...Array.from({ length: n }, (_, i) => recipient(i))].join('\n\n');
    assert.equal(parseDeliveryStatus(many(MAX_REPORTED_RECIPIENTS)).recipients.length, MAX_REPORTED_RECIPIENTS);
    assert.throws(() => parseDeliveryStatus(many(MAX_REPORTED_RECIPIENTS + 1)), /more than 500 recipients/);
    assert.throws(() => parseDeliveryStatus(`X: ${'a'.repeat(300 * 1024)}`), /larger than/);
  });

  test('UID sets are written as ranges', () => {
    assert.equal(uidSet([5, 1, 2, 3, 9, 12, 13, 14, 3]), '1:3,5,9,12:14');
    assert.equal(uidSet(Array.from({ length: 1000 }, (_, i) => i + 1)), '1:1000');
  });
});

describe('delivery report transitions', () => {
  const now = '2026-12-07T22:30:00.000Z';
  const sentRecord = (accepted: string[]): StatusRecord => ({
    id: 'm-1',
    status: 'sent',
    attempts: 1,
    createdAt: now,
    updatedAt: now,
    sender: SENDER,
    recipientCount: accepted.length,
    accepted,
  });
  const outcome = (
    recipient: string,
    kind: RecipientOutcome['outcome'],
    status = kind === 'bounced' ? '5.1.1' : '4.4.1',
  ): RecipientOutcome => ({
    recipient,
    outcome: kind,
    status,
    reportedAt: now,
  });

  test('every recipient bounced: the message is bounced, with each outcome', () => {
    const changes = deliveryReported(sentRecord(['a@x.example', 'b@x.example']), '<r1@x>', [
      outcome('a@x.example', 'bounced'),
      outcome('b@x.example', 'bounced'),
    ]);
    assert.equal(changes.status, 'bounced');
    assert.equal(changes.errorCategory, 'bounced');
    assert.deepEqual(
      changes.recipientOutcomes?.map((o) => o.recipient),
      ['a@x.example', 'b@x.example'],
    );
    assert.deepEqual(changes.reportIds, ['<r1@x>']);
  });

  test('a partial bounce keeps sent, with the bounced list; a second report for the rest makes it bounced', () => {
    const record = sentRecord(['a@x.example', 'b@x.example']);
    const first = deliveryReported(record, '<r1@x>', [outcome('a@x.example', 'bounced')]);
    assert.equal(first.status, undefined);
    assert.equal(first.errorCategory, 'some-recipients-bounced');
    const after = { ...record, ...first };
    const second = deliveryReported(after, '<r2@x>', [outcome('b@x.example', 'bounced')]);
    assert.equal(second.status, 'bounced');
    assert.deepEqual(second.reportIds, ['<r1@x>', '<r2@x>']);
  });

  test('read twice, recorded once: the same report changes nothing', () => {
    const record = sentRecord(['a@x.example', 'b@x.example']);
    const once = { ...record, ...deliveryReported(record, '<r1@x>', [outcome('a@x.example', 'bounced')]) };
    assert.deepEqual(deliveryReported(once, '<r1@x>', [outcome('a@x.example', 'bounced')]), {});
  });

  test('a delay is recorded; a later bounce replaces it, a later delay never replaces a bounce, delivery ends a delay', () => {
    const record = sentRecord(['a@x.example', 'b@x.example']);
    const delayed = {
      ...record,
      ...deliveryReported(record, '<r1@x>', [outcome('a@x.example', 'delayed'), outcome('b@x.example', 'delayed')]),
    };
    assert.equal(delayed.status, 'sent');
    assert.deepEqual(
      delayed.recipientOutcomes?.map((o) => o.outcome),
      ['delayed', 'delayed'],
    );
    const bounced = { ...delayed, ...deliveryReported(delayed, '<r2@x>', [outcome('a@x.example', 'bounced')], ['b@x.example']) };
    assert.deepEqual(
      bounced.recipientOutcomes?.map((o) => [o.recipient, o.outcome]),
      [['a@x.example', 'bounced']],
    );
    const late = { ...bounced, ...deliveryReported(bounced, '<r3@x>', [outcome('a@x.example', 'delayed')]) };
    assert.deepEqual(
      late.recipientOutcomes?.map((o) => o.outcome),
      ['bounced'],
    );
    assert.equal(late.status, 'sent');
  });

  test('the kept outcomes are bounded, bounces first, and the status still counts every bounce', () => {
    const accepted = Array.from({ length: 100 }, (_, i) => `r${i}@x.example`);
    const changes = deliveryReported(
      sentRecord(accepted),
      '<r1@x>',
      accepted.map((a) => outcome(a, 'bounced')),
    );
    assert.equal(changes.status, 'bounced');
    assert.equal(changes.recipientOutcomes?.length, MAX_RECIPIENT_OUTCOMES);
  });
});
