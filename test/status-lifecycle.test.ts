// The status lifecycle (src/status/transitions.ts): what each transition sets and clears, the one list of
// states behind the store's type, the status view and the API description, and what the status endpoint
// shows of a message that was poisoned or malformed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { MAIL_STATES } from '../src/status/mail-state';
import * as transition from '../src/status/transitions';
import { statusView, statusViewSchema } from '../src/status/status-view';
import { changesNothing, type StatusRecord } from '../src/status/status-store';
import { functionKeyCaller } from '../src/callers/sender-policy';
import { createGetMailStatusHandler } from '../src/handlers/get-mail-status';
import { processMessage } from '../src/delivery/process-message';
import { fakeWorld, memoryStatusStore } from './fakes/worker';

const NOW = Date.parse('2025-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A record in the middle of things: claimed, with a next attempt on file and an earlier error. */
function busy(): StatusRecord {
  return {
    id: 'm-1',
    status: 'sending',
    attempts: 2,
    createdAt: iso(NOW),
    updatedAt: iso(NOW),
    sender: 'noreply@contoso.example',
    recipientCount: 1,
    claimUntil: iso(NOW + 60_000),
    nextAttemptAt: iso(NOW + 30_000),
    errorCategory: 'temporary-reply',
    hint: 'try later',
  };
}

/** Applies changes the way the store does (a property set to undefined is removed). */
async function apply(changes: transition.Changes): Promise<StatusRecord> {
  const store = memoryStatusStore();
  return (await store.update(store.put(busy()), changes, new Date(NOW))).record;
}

test('one list of states: the store type, the status view and the JSON Schema the API description is made of', () => {
  assert.deepEqual(statusViewSchema.shape.status.options, [...MAIL_STATES]);
  const { $defs } = z.toJSONSchema(statusViewSchema, { io: 'input' }) as unknown as {
    $defs: { MailStatus: { properties: { status: { enum: string[] } } } };
  };
  assert.deepEqual($defs.MailStatus.properties.status.enum, [...MAIL_STATES]);
});

test('claim: sending until the claim lapses, one more attempt, no next attempt', async () => {
  const record = await apply(transition.claim(busy(), NOW + 5_000));
  assert.deepEqual([record.status, record.attempts, record.claimUntil, record.nextAttemptAt], ['sending', 3, iso(NOW + 5_000), undefined]);
});

test('defer: the next attempt on file, the claim gone, the attempts kept unless given', async () => {
  const kept = await apply(transition.defer(NOW + 10_000));
  assert.deepEqual([kept.status, kept.attempts, kept.nextAttemptAt, kept.claimUntil], ['deferred', 2, iso(NOW + 10_000), undefined]);
  assert.equal(kept.errorCategory, 'temporary-reply');
  const given = await apply(transition.defer(NOW + 10_000, { attempts: 1, errorCategory: 'daily-quota' }));
  assert.deepEqual([given.status, given.attempts, given.errorCategory], ['deferred', 1, 'daily-quota']);
});

const finals: Array<[string, transition.Changes, string | undefined, RegExp | undefined]> = [
  [
    'sent',
    transition.sent({ smtpMessageId: '<m-1@contoso.example>', accepted: ['a@example.com'], rejected: [], ...transition.replyOf('250 OK') }),
    undefined,
    undefined,
  ],
  [
    'sent, some rejected',
    transition.sent({ accepted: ['a@example.com'], rejected: ['b@example.com'] }),
    'some-recipients-rejected',
    undefined,
  ],
  [
    'failed',
    transition.fail('send-as-denied', 'grant SendAs', transition.replyOf('554 5.2.252 SendAsDenied')),
    'send-as-denied',
    /^grant SendAs$/,
  ],
  ['poisoned', transition.poison(new Error('x'.repeat(2_000))), 'poisoned', /^Moved to the poison queue after repeated errors: x{500}$/],
  ['malformed', transition.malformed('y'.repeat(2_000)), 'malformed', /^y{1000}$/],
];
for (const [name, changes, category, hint] of finals) {
  test(`${name}: final, with no claim and no next attempt left on the record or in the view`, async () => {
    const record = await apply(changes);
    assert.equal(record.status, name.startsWith('sent') ? 'sent' : 'failed');
    assert.equal(record.errorCategory, category);
    if (hint) assert.match(record.hint!, hint);
    else assert.equal(record.hint, undefined);
    assert.ok(!('claimUntil' in record) && !('nextAttemptAt' in record), JSON.stringify(record));
    assert.equal(statusView(record).nextAttemptAt, undefined);
  });
}

test('enqueue failed: final, and no longer said to be queued', async () => {
  const record = await apply(transition.enqueueFailed());
  assert.deepEqual(
    [record.status, record.errorCategory, record.enqueuedAt, record.claimUntil],
    ['failed', 'enqueue-failed', undefined, undefined],
  );
});

test('a change that changes nothing is no write: the same version comes back, updatedAt untouched', async () => {
  const store = memoryStatusStore();
  const current = store.put({ ...busy(), status: 'deferred', claimUntil: undefined });
  const same = await store.update(current, transition.defer(Date.parse(busy().nextAttemptAt!)), new Date(NOW + 5_000));
  assert.equal(same, current);
  assert.ok(changesNothing(busy(), { accepted: undefined, attempts: 2, status: 'sending' }));
  assert.ok(!changesNothing(busy(), { attempts: 3 }));
  assert.ok(!changesNothing({ ...busy(), accepted: ['a@example.com'] }, { accepted: ['b@example.com'] }));
});

test('replies: the code read from the text unless given, the text cut at 1000 characters', () => {
  assert.deepEqual(transition.replyOf('451 4.7.500 Server busy'), { lastReplyCode: 451, lastReplyText: '451 4.7.500 Server busy' });
  assert.deepEqual(transition.replyOf('token endpoint 503', 503), { lastReplyCode: 503, lastReplyText: 'token endpoint 503' });
  assert.equal(transition.replyOf('no code').lastReplyCode, undefined);
  assert.equal(transition.replyOf('5'.repeat(1_500)).lastReplyText!.length, 1_000);
});

for (const path of ['poisoned', 'malformed'] as const) {
  test(`the status endpoint shows a ${path} message as failed (422) with no next attempt`, async () => {
    // Malformed here is this record's own message whose payload blob is not JSON: a message that does not decode at
    // all touches no record (worker-decisions covers that).
    const w = fakeWorld(path === 'malformed' ? { 'm-1.json': '{"from":' } : {});
    w.status.put({
      ...busy(),
      status: 'deferred',
      claimUntil: undefined,
      createdAt: iso(w.clock.ms),
      nextAttemptAt: iso(w.clock.ms + 60_000),
    });
    const envelope = {
      version: 1,
      id: 'm-1',
      createdAt: iso(w.clock.ms),
      mail: { from: 'noreply@contoso.example', to: 'a@example.com', subject: 's', text: 'x' },
    };
    if (path === 'poisoned') {
      w.outbox.requeueError = new Error('queue gone');
      await assert.rejects(processMessage(envelope, { dequeueCount: 5, maxDequeueCount: 5 }, w.deps));
    } else {
      await processMessage({ ...envelope, mail: undefined, mailBlob: 'm-1.json' }, { dequeueCount: 1, maxDequeueCount: 5 }, w.deps);
    }
    // The host checks function keys here (no MAIL_CALLERS): every caller is the function-key caller.
    const caller = functionKeyCaller({ allowedSenders: ['noreply@contoso.example'] });
    const authenticate = () => Promise.resolve({ ok: true as const, value: caller });
    const deps = { config: { publicBaseUrl: 'https://mail.example' }, status: w.status, authenticate };
    const response = await createGetMailStatusHandler(() => deps)(
      new HttpRequest({ method: 'GET', url: 'https://mail.example/api/mail/m-1', params: { id: 'm-1' } }),
    );
    assert.equal(response.status, 422);
    const { mail } = JSON.parse(response.body as string) as { mail: Record<string, unknown> };
    assert.deepEqual([mail.status, (mail.error as { category: string }).category], ['failed', path]);
    assert.equal(mail.nextAttemptAt, undefined);
  });
}

test('the status endpoint: bounced is final (422, no Location, no Retry-After) with each outcome; a partial bounce is sent (200) with its list', async () => {
  const caller = functionKeyCaller({ allowedSenders: ['noreply@contoso.example'] });
  const authenticate = () => Promise.resolve({ ok: true as const, value: caller });
  const store = memoryStatusStore();
  const outcome = (recipient: string, kind: 'bounced' | 'delayed') => ({
    recipient,
    outcome: kind,
    status: kind === 'bounced' ? '5.1.1' : '4.4.7',
    ...(kind === 'bounced' ? { diagnosticCode: 'smtp; 550 5.1.1 User unknown', remoteMta: 'dns; mx.fabrikam.example' } : {}),
    reportedAt: iso(NOW),
  });
  const sentRecord = { ...busy(), status: 'sent' as const, claimUntil: undefined, nextAttemptAt: undefined, errorCategory: undefined };
  store.put({
    ...sentRecord,
    id: 'all-bounced',
    status: 'bounced',
    accepted: ['a@fabrikam.example'],
    recipientOutcomes: [outcome('a@fabrikam.example', 'bounced')],
    reportIds: ['<r1@x>'],
    errorCategory: 'bounced',
  });
  store.put({
    ...sentRecord,
    id: 'some-bounced',
    recipientCount: 2,
    accepted: ['a@fabrikam.example', 'b@fabrikam.example'],
    recipientOutcomes: [outcome('a@fabrikam.example', 'bounced'), outcome('b@fabrikam.example', 'delayed')],
  });
  const get = (id: string) =>
    createGetMailStatusHandler(() => ({ config: { publicBaseUrl: 'https://mail.example' }, status: store, authenticate }))(
      new HttpRequest({ method: 'GET', url: `https://mail.example/api/mail/${id}`, params: { id } }),
    );

  const bounced = await get('all-bounced');
  assert.equal(bounced.status, 422);
  assert.equal(new Headers(bounced.headers as HeadersInit).get('Location'), null);
  assert.equal(new Headers(bounced.headers as HeadersInit).get('Retry-After'), null);
  const { mail } = JSON.parse(bounced.body as string) as { mail: z.infer<typeof statusViewSchema> };
  assert.ok(statusViewSchema.safeParse(mail).success, 'the body is the MailStatus the API describes');
  assert.equal(mail.status, 'bounced');
  assert.deepEqual(mail.recipientOutcomes, [outcome('a@fabrikam.example', 'bounced')]);
  assert.equal((mail as Record<string, unknown>).reportIds, undefined, 'bookkeeping stays on the record');

  const partial = await get('some-bounced');
  assert.equal(partial.status, 200);
  const view = partial.jsonBody as z.infer<typeof statusViewSchema>;
  assert.deepEqual(
    view.recipientOutcomes?.map((o) => [o.recipient, o.outcome, o.status]),
    [
      ['a@fabrikam.example', 'bounced', '5.1.1'],
      ['b@fabrikam.example', 'delayed', '4.4.7'],
    ],
  );
});
