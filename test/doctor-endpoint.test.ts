// GET /api/diagnostics/doctor runs the doctor's checks inside the app: 200 when all pass, 503 naming the failure
// otherwise, never a secret or token in the answer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { startHarness, type Harness } from './support/harness';
import { createDoctorHandler } from '../src/handlers/doctor';
import { appDoctorDeps } from '../src/doctor/defaults';
import { LOCAL_FABRIKAM_SECRET_SETTING } from '../sandbox/stack';

let h: Harness;
before(async () => {
  h = await startHarness({ mode: 'clientSecret', worker: false });
});
after(async () => h?.close());

interface Report {
  ok: boolean;
  checks: Array<{ id: string; status: string }>;
}

async function call(env: Record<string, string | undefined>): Promise<Omit<HttpResponseInit, 'jsonBody'> & { jsonBody: Report }> {
  const handler = createDoctorHandler(() => appDoctorDeps(env));
  const request = new HttpRequest({ method: 'GET', url: 'http://localhost/api/diagnostics/doctor' });
  return (await handler(request, new InvocationContext({ functionName: 'runDoctor' }))) as never;
}

test('every check passes against a working setup: 200 with the report', async () => {
  const response = await call(h.settings);
  assert.equal(response.status, 200, JSON.stringify(response.jsonBody));
  assert.equal(response.jsonBody.ok, true);
  // One token per sender profile: the default one and the stack's fabrikam profile.
  for (const id of ['token', 'token:fabrikam'])
    assert.ok(
      response.jsonBody.checks.some((c) => c.id === id && c.status === 'pass'),
      id,
    );
});

test('a wrong secret: 503, the token check failed, and the secret is nowhere in the answer', async () => {
  const wrong = 'definitely-not-the-secret-1234567890';
  const response = await call({ ...h.settings, MAIL_CLIENT_SECRET: wrong });
  assert.equal(response.status, 503);
  assert.ok(response.jsonBody.checks.some((c) => c.id === 'token' && c.status === 'fail'));
  const body = JSON.stringify(response.jsonBody);
  assert.ok(!body.includes(wrong) && !body.includes(h.stack.clientSecret) && !body.includes(h.stack.fabrikamSecret));
});

test("a wrong secret in the fabrikam profile's setting: 503, that profile's token check failed, the default one passed, no secret in the answer", async () => {
  const wrong = 'definitely-not-fabrikams-secret-1234567890';
  const response = await call({ ...h.settings, [LOCAL_FABRIKAM_SECRET_SETTING]: wrong });
  assert.equal(response.status, 503);
  const status = (id: string) => response.jsonBody.checks.find((c) => c.id === id)?.status;
  assert.deepEqual([status('token'), status('token:fabrikam')], ['pass', 'fail']);
  const body = JSON.stringify(response.jsonBody);
  assert.ok(!body.includes(wrong) && !body.includes(h.stack.clientSecret) && !body.includes(h.stack.fabrikamSecret));
});
