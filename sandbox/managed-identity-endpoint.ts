// The managed identity endpoint of App Service / Azure Functions (api-version 2019-08-01), on plain http like the
// real one. Point IDENTITY_ENDPOINT / IDENTITY_HEADER at it (see `env`) and ManagedIdentityCredential uses it.
// Note: @azure/identity picks the endpoint up once per process and caches tokens process-wide, so start one
// endpoint per process, set the environment before the first getToken, and use hits to see cache behaviour.
import { createServer } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { FailureScript, closeServer, listenOnLoopback, sendJson } from './http-json';
import { refuseForeign } from './loopback-guard';
import type { TokenAuthority } from './token-authority';

export const MANAGED_IDENTITY_API_VERSION = '2019-08-01';
const TOKEN_PATH = '/msi/token';

export interface ManagedIdentityEndpointOptions {
  tokens: TokenAuthority;
  tenantId?: string;
  /** Client id reported for the system-assigned identity. */
  systemAssignedClientId?: string;
  /** User-assigned identities the app has; any other client_id is refused like Azure refuses it. */
  userAssignedClientIds?: string[];
  /** Token lifetime; Azure's managed identity tokens live about 24 hours. */
  tokenLifetimeSeconds?: number;
  port?: number;
}

export interface ManagedIdentityHits {
  /** Every request, including refused ones. */
  total: number;
  /** Tokens handed out. */
  issued: number;
  /** Requests per `resource` parameter. */
  byResource: Record<string, number>;
  /** Requests per identity: the client_id parameter, or the system-assigned client id when there is none. */
  byClientId: Record<string, number>;
}

export interface ManagedIdentityEndpoint {
  /** The IDENTITY_ENDPOINT value. */
  url: string;
  port: number;
  /** The IDENTITY_HEADER value: requests must carry it in X-IDENTITY-HEADER. */
  identityHeader: string;
  tenantId: string;
  systemAssignedClientId: string;
  hits: ManagedIdentityHits;
  /** Environment variables that make @azure/identity use this endpoint. */
  env: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  /** The next `count` token requests fail with `status` and `body` (default: Azure's error shape). */
  failNext(count: number, status: number, body?: unknown): void;
  close(): Promise<void>;
}

export async function startManagedIdentityEndpoint(options: ManagedIdentityEndpointOptions): Promise<ManagedIdentityEndpoint> {
  const tenantId = options.tenantId ?? randomUUID();
  const systemAssignedClientId = options.systemAssignedClientId ?? randomUUID();
  const userAssigned = new Set((options.userAssignedClientIds ?? []).map((id) => id.toLowerCase()));
  const lifetimeSeconds = options.tokenLifetimeSeconds ?? 24 * 60 * 60;
  const identityHeader = randomBytes(24).toString('hex');
  const hits: ManagedIdentityHits = { total: 0, issued: 0, byResource: {}, byClientId: {} };
  const failures = new FailureScript();

  // Azure's error body for this endpoint: {"statusCode":400,"message":"...","correlationId":"..."}.
  const error = (statusCode: number, message: string) => ({ statusCode, message, correlationId: randomUUID() });

  const server = createServer((req, res) => {
    if (refuseForeign(req, res, 'http', [port])) return;
    hits.total++;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname.toLowerCase() !== TOKEN_PATH) {
      return sendJson(res, 404, error(404, 'Not found.'));
    }
    const resource = url.searchParams.get('resource');
    const clientId = url.searchParams.get('client_id') ?? systemAssignedClientId;
    if (resource) hits.byResource[resource] = (hits.byResource[resource] ?? 0) + 1;
    hits.byClientId[clientId] = (hits.byClientId[clientId] ?? 0) + 1;

    const failure = failures.take();
    if (failure) return sendJson(res, failure.status, failure.body ?? error(failure.status, 'Injected failure.'));
    if (req.headers['x-identity-header'] !== identityHeader) {
      return sendJson(res, 401, error(401, 'Unauthorized: the X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.'));
    }
    if (url.searchParams.get('api-version') !== MANAGED_IDENTITY_API_VERSION) {
      return sendJson(res, 400, error(400, `Unsupported api-version; expected ${MANAGED_IDENTITY_API_VERSION}.`));
    }
    if (!resource) return sendJson(res, 400, error(400, 'The resource parameter is required.'));
    // principal_id / mi_res_id select an identity the local endpoint cannot know: refused like an unknown one.
    const unknownIdentity =
      url.searchParams.has('principal_id') ||
      url.searchParams.has('mi_res_id') ||
      (clientId !== systemAssignedClientId && !userAssigned.has(clientId.toLowerCase()));
    if (unknownIdentity) return sendJson(res, 400, error(400, 'Unable to load the proper Managed Identity.'));

    const accessToken = options.tokens.issue({ audience: resource, appId: clientId, tenantId, lifetimeSeconds });
    hits.issued++;
    sendJson(res, 200, {
      access_token: accessToken,
      expires_on: String(Math.floor(Date.now() / 1000) + lifetimeSeconds),
      resource,
      token_type: 'Bearer',
      client_id: clientId,
    });
  });

  const port = await listenOnLoopback(server, options.port ?? 0);
  const url = `http://127.0.0.1:${port}${TOKEN_PATH}`;
  return {
    url,
    port,
    identityHeader,
    tenantId,
    systemAssignedClientId,
    hits,
    env: { IDENTITY_ENDPOINT: url, IDENTITY_HEADER: identityHeader },
    failNext: (count, status, body) => failures.failNext(count, status, body),
    close: () => closeServer(server),
  };
}
