import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyFailure } from '../src/delivery/classify-failure';
import { TokenError } from '../src/identity/token-source';

// Replies as Exchange Online words them (see ../shared notes); the shape is nodemailer's error.
const cases: Array<[string, string, string]> = [
  ['451 4.7.500 Server busy. Please try again later.', 'temporary', 'temporary-restriction'],
  ['432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending', 'temporary', 'connection-limit'],
  ['430 4.2.0 STOREDRV; mailbox logon failure', 'temporary', 'mailbox-logon-failure'],
  ['421 4.4.2 Connection dropped', 'temporary', 'temporary-reply'],
  ['501 5.5.127 Token will expire soon', 'reauthenticate', 'token-expiring'],
  ['535 5.7.3 Authentication unsuccessful [SN4PR0201CA0045.namprd02.prod.outlook.com]', 'reauthenticate', 'authentication-failed'],
  ['535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.', 'permanent', 'smtp-auth-disabled'],
  ['554 5.2.252 SendAsDenied; sender@contoso.com not allowed to send as other@contoso.com', 'permanent', 'send-as-denied'],
  ['550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'permanent', 'send-as-denied'],
  ['530 5.7.57 Client not authenticated to send mail', 'permanent', 'not-authenticated'],
  ['554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message', 'quota', 'daily-quota'],
  ["550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients", 'quota', 'daily-quota'],
  ['550 5.7.233 Tenant has exceeded the external recipient rate limit', 'quota', 'tenant-rate-limit'],
  ['554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException', 'permanent', 'mailbox-full'],
  ['552 5.3.4 Message size exceeds fixed maximum message size', 'permanent', 'message-too-large'],
  ['550 5.1.8 Access denied, bad outbound sender', 'permanent', 'sender-blocked'],
  ['550 5.7.501 Access denied, spam abuse detected', 'permanent', 'sender-blocked'],
  ['550 5.1.1 User unknown', 'permanent', 'rejected'],
];

for (const [response, kind, category] of cases) {
  test(`${response.slice(0, 40)}… → ${kind} (${category})`, () => {
    const error = Object.assign(new Error(`Message failed: ${response}`), {
      code: 'EMESSAGE',
      response,
      responseCode: Number(response.slice(0, 3)),
    });
    const failure = classifyFailure(error);
    assert.equal(failure.kind, kind);
    assert.equal(failure.category, category);
    assert.equal(failure.reply?.code, Number(response.slice(0, 3)));
    assert.ok(failure.hint.length > 10);
  });
}

test('connection errors without a reply are temporary', () => {
  for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET']) {
    assert.equal(classifyFailure(Object.assign(new Error('socket closed'), { code })).kind, 'temporary');
  }
});

test('token errors: transient ones retry, configuration ones are permanent with a setup hint', () => {
  assert.equal(classifyFailure(new TokenError('endpoint 503', true)).kind, 'temporary');
  const permanent = classifyFailure(new TokenError('AADSTS7000215: Invalid client secret provided.', false, 'AADSTS7000215'));
  assert.equal(permanent.kind, 'permanent');
  assert.match(permanent.hint, /AADSTS7000215.*MAIL_CLIENT_ID/);
});

test('5.7.139 hints at security defaults too: with them on, Set-CASMailbox alone still gets 5.7.139', () => {
  for (const scope of ['Mailbox', 'Tenant']) {
    const response = `535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the ${scope}.`;
    const failure = classifyFailure(Object.assign(new Error(response), { code: 'EAUTH', response, responseCode: 535 }));
    assert.equal(failure.category, 'smtp-auth-disabled');
    assert.match(failure.hint, /Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled \$false/);
    assert.match(failure.hint, /security defaults are on \(the default in new Microsoft 365 tenants\)/);
    assert.match(failure.hint, /turn them off .*Conditional Access/);
  }
});
