// A local Entra ID (v2 endpoints) for the client credentials grant, over https with the local CA's certificate,
// so @azure/msal-node's ConfidentialClientApplication runs unchanged against it. Client secrets and certificate
// assertions (private_key_jwt, as MSAL builds them) are checked; errors come back in Entra's JSON shape with the
// AADSTS codes the product code classifies. Codes marked "assumed" below are plausible, not confirmed.
import { createServer } from 'node:https';
import { X509Certificate, constants, createHash, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { FailureScript, closeServer, listenOnLoopback, readBody, sendJson } from './http-json';
import { refuseForeign } from './loopback-guard';
import type { TokenAuthority } from './token-authority';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Entra tolerates this much clock skew on client assertions. */
const ASSERTION_SKEW_SECONDS = 300;

export interface EntraApp {
  tenantId: string;
  clientId: string;
  secret?: string;
  /** PEM of the certificate registered on the app (public part only is used). */
  certificatePem?: string;
  /**
   * A federated identity credential trusting a managed identity: its token for `audience`, issued by the
   * local identity endpoint to `clientId`, is accepted as client assertion (a secretless app registration).
   */
  federatedIdentity?: { clientId: string; audience: string };
}

/**
 * An API exposed by an app registration (application ID URI `audience`), with the app roles assigned to client
 * apps. Tokens for it are RS256 JWTs signed with this endpoint's key, published at the tenant's jwks_uri, as
 * Entra's are: any JWT library verifies them the way it verifies Entra's.
 */
export interface LocalApi {
  tenantId: string;
  audience: string;
  /** Client id (or a user's name) → app roles assigned to it (Entra omits the roles claim when there are none). */
  roles: Record<string, string[]>;
  /** Delegated permissions (scopes) the API exposes; a user's token names those it was granted in `scp`. */
  scopes?: string[];
  /** Optional access token claims the API's registration asks for: `idtyp` says "app" or "user". */
  optionalClaims?: readonly 'idtyp'[];
}

/** A user of the tenant, for delegated tokens (the resource owner password grant, which Entra still serves). */
export interface EntraUser {
  tenantId: string;
  username: string;
  password: string;
}

export interface EntraEndpointOptions {
  tokens: TokenAuthority;
  tls: { certPem: string; keyPem: string };
  apps?: EntraApp[];
  /** Token lifetime; Entra's app-only tokens usually live 60–90 minutes. */
  tokenLifetimeSeconds?: number;
  /** Resources that exist (audiences); others get AADSTS500011. Default: any. */
  audiences?: string[];
  apis?: LocalApi[];
  port?: number;
}

export interface EntraHits {
  total: number;
  metadata: number;
  tokenRequests: number;
  issued: number;
  /** Token requests per client_id. */
  byClientId: Record<string, number>;
}

export interface EntraEndpoint {
  /** https://localhost:<port>: the authority host (MAIL_AUTHORITY_HOST). */
  authorityHost: string;
  port: number;
  /** The authority URL MSAL takes for a tenant: `<authorityHost>/<tenant>`. */
  authority(tenant: string): string;
  hits: EntraHits;
  register(app: EntraApp): void;
  registerApi(api: LocalApi): void;
  registerUser(user: EntraUser): void;
  /** The next `count` token requests fail with `status` and `body` (default: a transient Entra error). */
  failNext(count: number, status: number, body?: unknown): void;
  close(): Promise<void>;
}

interface EntraError {
  status: number;
  error: string;
  code: number;
  message: string;
}

const fail = (status: number, error: string, code: number, message: string): EntraError => ({ status, error, code, message });

export async function startEntraEndpoint(options: EntraEndpointOptions): Promise<EntraEndpoint> {
  const apps: EntraApp[] = [];
  const lifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
  const hits: EntraHits = { total: 0, metadata: 0, tokenRequests: 0, issued: 0, byClientId: {} };
  const failures = new FailureScript();
  let origin = '';

  const apis: LocalApi[] = [...(options.apis ?? [])];
  const users: EntraUser[] = [];
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = randomUUID();
  const jwks = { keys: [{ ...signingKey.publicKey.export({ format: 'jwk' }), kid: keyId, use: 'sig', alg: 'RS256' }] };
  /**
   * A v2 access token for one of the local APIs, shaped like Entra's: app-only for the client itself, or delegated
   * (with `scp`, the user's object id and the user's own app roles) when a user signed in through the client.
   */
  const apiToken = (api: LocalApi, clientId: string, user?: { username: string; scopes: string[] }): string => {
    const now = Math.floor(Date.now() / 1000);
    const objectId = createHash('sha256')
      .update(`${api.tenantId}/${user?.username ?? clientId}`)
      .digest('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/, '$1-$2-$3-$4-$5');
    const holder = user?.username ?? clientId;
    const roles = api.roles[holder.toLowerCase()] ?? api.roles[holder];
    const delegated = user ? { scp: user.scopes.join(' '), name: user.username, preferred_username: user.username } : {};
    const claims = {
      aud: api.audience,
      iss: `${origin}/${api.tenantId}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + lifetimeSeconds,
      azp: clientId,
      azpacr: '1',
      oid: objectId,
      sub: objectId,
      tid: api.tenantId,
      ver: '2.0',
      uti: randomUUID(),
      ...(roles && roles.length > 0 ? { roles } : {}),
      ...delegated,
      ...(api.optionalClaims?.includes('idtyp') ? { idtyp: user ? 'user' : 'app' } : {}),
    };
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${encode({ typ: 'JWT', alg: 'RS256', kid: keyId })}.${encode(claims)}`;
    return `${signed}.${sign('sha256', Buffer.from(signed), signingKey.privateKey).toString('base64url')}`;
  };

  const findTenant = (tenant: string) => apps.find((a) => a.tenantId.toLowerCase() === tenant.toLowerCase())?.tenantId;

  const errorBody = (e: EntraError, correlationId: string) => {
    const traceId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
    return {
      error: e.error,
      error_description: `AADSTS${e.code}: ${e.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [e.code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${origin}/error?code=${e.code}`,
    };
  };

  const openIdConfiguration = (tenantId: string) => {
    const base = `${origin}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${origin}/${tenantId}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'tid', 'ver', 'oid'],
      cloud_instance_name: 'microsoftonline.com',
    };
  };

  // msal-node sends instance discovery to login.microsoftonline.com whatever the authority, so it asks here only
  // when a client is pointed at this host for discovery; answered so such a client finds this host trusted.
  const instanceDiscovery = () => {
    const host = new URL(origin).host;
    return {
      tenant_discovery_endpoint: `${origin}/common/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  };

  /**
   * The resource owner password grant: a user signs in through a (confidential) client and gets a delegated token
   * for scopes of one API, `<application ID URI>/<scope>` or `/.default` for every scope it exposes.
   */
  const userTokenRequest = (tenantId: string, form: URLSearchParams, scopes: string[]): EntraError | { accessToken: string } => {
    const clientId = form.get('client_id')!;
    const app = apps.find((a) => a.tenantId === tenantId && a.clientId.toLowerCase() === clientId.toLowerCase());
    if (!app) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    const credentialError = checkCredential(app, form, options.tokens, []);
    if (credentialError) return credentialError;
    const user = users.find((u) => u.tenantId === tenantId && u.username.toLowerCase() === (form.get('username') ?? '').toLowerCase());
    if (!user || user.password !== form.get('password')) {
      return fail(400, 'invalid_grant', 50126, 'Error validating credentials due to invalid username or password.');
    }
    const audience = scopes[0]?.replace(/\/[^/]*$/, '');
    const api = apis.find((a) => a.tenantId === tenantId && a.audience === audience);
    if (!api || scopes.some((s) => !s.startsWith(`${audience}/`))) {
      return fail(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid.`);
    }
    const asked = scopes.map((s) => s.slice(audience.length + 1));
    const granted = asked.includes('.default') ? (api.scopes ?? []) : asked.filter((s) => api.scopes?.includes(s));
    if (granted.length === 0)
      return fail(400, 'invalid_scope', 65001, 'The user or administrator has not consented to use the application.');
    return { accessToken: apiToken(api, app.clientId, { username: user.username, scopes: granted }) };
  };

  const tokenRequest = (tenantPath: string, form: URLSearchParams): EntraError | { accessToken: string } => {
    const tenantId = findTenant(tenantPath);
    if (!tenantId) {
      return fail(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenantPath}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    const missing = ['grant_type', 'client_id', 'scope'].find((name) => !form.get(name));
    if (missing) return fail(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${missing}'.`);
    const grantType = form.get('grant_type')!;
    const clientId = form.get('client_id')!;
    const scope = form.get('scope')!;
    if (grantType !== 'client_credentials' && grantType !== 'password') {
      return fail(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    }
    const scopes = scope.split(' ').filter((s) => !['openid', 'profile', 'offline_access'].includes(s));
    if (grantType === 'password') return userTokenRequest(tenantId, form, scopes);
    if (scopes.length !== 1 || !scopes[0].endsWith('/.default')) {
      return fail(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const audience = scopes[0].slice(0, -'/.default'.length);
    const app = apps.find((a) => a.tenantId === tenantId && a.clientId.toLowerCase() === clientId.toLowerCase());
    if (!app) {
      return fail(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantPath}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const credentialError = checkCredential(app, form, options.tokens, [
      `${origin}/${tenantPath}/oauth2/v2.0/token`,
      `${origin}/${tenantId}/oauth2/v2.0/token`,
    ]);
    if (credentialError) return credentialError;
    if (options.audiences && !options.audiences.includes(audience)) {
      return fail(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${audience} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const api = apis.find((a) => a.tenantId === tenantId && a.audience === audience);
    if (api) return { accessToken: apiToken(api, app.clientId) };
    return { accessToken: options.tokens.issue({ audience, appId: app.clientId, tenantId, lifetimeSeconds }) };
  };

  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    if (refuseForeign(req, res, 'https', [port])) return;
    hits.total++;
    const correlationId = String(req.headers['client-request-id'] ?? randomUUID());
    const url = new URL(req.url ?? '/', origin);
    const segments = url.pathname.split('/').filter(Boolean);
    const reply = (e: EntraError) => sendJson(res, e.status, errorBody(e, correlationId));

    if (req.method === 'GET' && segments.join('/') === 'common/discovery/instance') {
      return sendJson(res, 200, instanceDiscovery());
    }
    if (req.method === 'GET' && segments.length === 4 && segments.slice(1).join('/') === 'v2.0/.well-known/openid-configuration') {
      // Served for unknown tenants too: against login.microsoftonline.com MSAL uses built-in metadata and never
      // asks, so the first error it sees for a wrong tenant is AADSTS90002 from the token endpoint. Same here.
      hits.metadata++;
      return sendJson(res, 200, openIdConfiguration(findTenant(segments[0]) ?? segments[0]));
    }
    if (req.method === 'GET' && segments.length === 4 && segments.slice(1).join('/') === 'discovery/v2.0/keys') {
      return sendJson(res, 200, jwks);
    }
    if (req.method === 'POST' && segments.length === 4 && segments.slice(1).join('/') === 'oauth2/v2.0/token') {
      hits.tokenRequests++;
      void readBody(req).then(
        (body) => {
          const form = new URLSearchParams(body);
          const clientId = form.get('client_id') ?? '';
          hits.byClientId[clientId] = (hits.byClientId[clientId] ?? 0) + 1;
          const failure = failures.take();
          if (failure) {
            const fallback = fail(failure.status, 'temporarily_unavailable', 90033, 'A transient error has occurred. Please try again.');
            return sendJson(res, failure.status, failure.body ?? errorBody(fallback, correlationId));
          }
          const result = tokenRequest(segments[0], form);
          if ('status' in result) return reply(result);
          hits.issued++;
          sendJson(res, 200, {
            token_type: 'Bearer',
            expires_in: lifetimeSeconds,
            ext_expires_in: lifetimeSeconds,
            access_token: result.accessToken,
          });
        },
        () => reply(fail(400, 'invalid_request', 900144, 'The request body could not be read.')),
      );
      return;
    }
    sendJson(res, 404, { error: 'not_found', error_description: `No local endpoint for ${req.method} ${url.pathname}.` });
  });

  const port = await listenOnLoopback(server, options.port ?? 0);
  origin = `https://localhost:${port}`;
  const register = (app: EntraApp) => {
    const index = apps.findIndex((a) => a.tenantId === app.tenantId && a.clientId === app.clientId);
    if (index >= 0) apps.splice(index, 1);
    apps.push(app);
  };
  for (const app of options.apps ?? []) register(app);

  return {
    authorityHost: origin,
    port,
    authority: (tenant) => `${origin}/${tenant}`,
    hits,
    register,
    registerApi: (api) => void apis.push(api),
    registerUser: (user) => void users.push(user),
    failNext: (count, status, body) => failures.failNext(count, status, body),
    close: () => closeServer(server),
  };
}

function checkCredential(app: EntraApp, form: URLSearchParams, tokens: TokenAuthority, tokenEndpoints: string[]): EntraError | undefined {
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (secret !== null) {
    if (app.secret !== undefined && secret === app.secret) return undefined;
    return fail(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
    );
  }
  if (assertion !== null) {
    if (form.get('client_assertion_type') !== JWT_BEARER) {
      return fail(400, 'invalid_request', 50027, 'JWT token is invalid or malformed (client_assertion_type must be jwt-bearer).'); // assumed code
    }
    if (app.federatedIdentity) return checkFederatedAssertion(app.federatedIdentity, assertion, tokens);
    return checkAssertion(app, assertion, tokenEndpoints);
  }
  return fail(
    401,
    'invalid_client',
    7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
  );
}

interface AssertionHeader {
  alg?: string;
  x5t?: string;
  'x5t#S256'?: string;
}

interface AssertionClaims {
  aud?: string;
  iss?: string;
  sub?: string;
  exp?: number;
  nbf?: number;
}

/** A managed identity's token presented under a federated identity credential. */
function checkFederatedAssertion(
  federated: NonNullable<EntraApp['federatedIdentity']>,
  assertion: string,
  tokens: TokenAuthority,
): EntraError | undefined {
  const verdict = tokens.verify(assertion, { audience: federated.audience });
  if (!verdict.ok || verdict.claims.appid !== federated.clientId) {
    return fail(
      401,
      'invalid_client',
      70021,
      `No matching federated identity record found for presented assertion (${verdict.ok ? 'unexpected subject' : verdict.reason}).`,
    );
  }
  return undefined;
}

/** Verifies a private_key_jwt client assertion against the app's registered certificate, like Entra does. */
function checkAssertion(app: EntraApp, assertion: string, tokenEndpoints: string[]): EntraError | undefined {
  const malformed = fail(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  const parts = assertion.split('.');
  if (parts.length !== 3) return malformed;
  const [encodedHeader, encodedClaims, signature] = parts as [string, string, string];
  let header: AssertionHeader;
  let claims: AssertionClaims;
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8')) as AssertionHeader;
    claims = JSON.parse(Buffer.from(encodedClaims, 'base64url').toString('utf8')) as AssertionClaims;
  } catch {
    return malformed;
  }
  const notRegistered = fail(
    401,
    'invalid_client',
    700027,
    `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${header['x5t#S256'] ?? header.x5t ?? ''}']`,
  );
  if (!app.certificatePem) return notRegistered;
  const certificate = new X509Certificate(app.certificatePem);
  const thumbprintMatches = header['x5t#S256']
    ? header['x5t#S256'] === createHash('sha256').update(certificate.raw).digest('base64url')
    : header.x5t === createHash('sha1').update(certificate.raw).digest('base64url');
  if (!thumbprintMatches) return notRegistered;

  const signed = Buffer.from(`${encodedHeader}.${encodedClaims}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  const key = certificate.publicKey;
  const valid =
    header.alg === 'PS256'
      ? verify(
          'sha256',
          signed,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
          signatureBytes,
        )
      : header.alg === 'RS256' && verify('sha256', signed, key, signatureBytes);
  if (!valid) return fail(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');

  if (claims.iss !== app.clientId || claims.sub !== app.clientId) {
    return fail(401, 'invalid_client', 700021, "Client assertion application identifier doesn't match 'client_id' parameter."); // assumed code
  }
  if (!claims.aud || !tokenEndpoints.includes(claims.aud)) {
    return fail(
      401,
      'invalid_client',
      50013,
      `Assertion audience claim does not match the required value. The audience in the assertion was '${claims.aud ?? ''}'.`,
    ); // assumed code
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.exp !== 'number' || claims.exp + ASSERTION_SKEW_SECONDS < now || (claims.nbf ?? 0) - ASSERTION_SKEW_SECONDS > now) {
    return fail(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
  }
  return undefined;
}
