// Access tokens for SMTP XOAUTH2, cached and renewed well before expiry: Exchange has refused tokens
// close to expiry ("501 5.5.127 Token will expire soon").
// MSAL is loaded on the first token request and only in the app registration modes; managedIdentity loads
// @azure/identity instead (./managed-identity). Settings are still checked here, so a bad one fails at start.
import type { ConfidentialClientApplication, Configuration } from '@azure/msal-node';
import { lazyManagedIdentity } from './managed-identity';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { AuthMode } from './auth-mode';
import { instruments } from '../telemetry/instruments';

/** What the token source needs to know; read from the MAIL_* settings by src/config/load-config.ts. */
export interface TokenSourceOptions {
  mode: AuthMode;
  tenantId?: string;
  /** App registration client id, or in managedIdentity mode the user-assigned identity's client id. */
  clientId?: string;
  clientSecret?: string;
  clientCertificatePem?: string;
  /** federatedIdentity: the user-assigned identity the app registration trusts. */
  managedIdentityClientId?: string;
  federationAudience: string;
  authorityHost: string;
  scope: string;
}

export const RENEW_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

export interface AccessToken {
  token: string;
  expiresOn: number; // epoch ms
}

export interface TokenSource {
  /** `mailbox`: the sending mailbox, where tokens differ per sender profile (tenant); one source ignores it. */
  getToken(options?: { forceRefresh?: boolean; mailbox?: string }): Promise<AccessToken>;
}

/** Why a token could not be had; never carries the secret or the token. */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

type Fetch = (forceRefresh: boolean) => Promise<AccessToken>;

/**
 * When a token is renewed: RENEW_BEFORE_EXPIRY_MS before it expires, or halfway through its life when that is
 * shorter (a 2-minute token would otherwise be inside the window from the start and fetched for every message).
 */
export function renewalTime(token: AccessToken, receivedAt: number): number {
  return token.expiresOn - Math.min(RENEW_BEFORE_EXPIRY_MS, (token.expiresOn - receivedAt) / 2);
}

/** Caches one token, renews it in time (renewalTime), and shares one request among concurrent callers. */
export function cachedTokenSource(fetchToken: Fetch, now: () => number = Date.now): TokenSource {
  let cached: { token: AccessToken; renewAt: number } | undefined;
  let inFlight: Promise<AccessToken> | undefined;
  return {
    async getToken(options) {
      const force = options?.forceRefresh === true;
      if (!force && cached && now() < cached.renewAt) return cached.token;
      if (!inFlight) {
        // A token inside the renewal window must not come back from the library's own cache either.
        const bypassLibraryCache = force || cached !== undefined;
        instruments().tokenRenewals.add(1);
        inFlight = fetchToken(bypassLibraryCache)
          .then((token) => {
            cached = { token, renewAt: renewalTime(token, now()) };
            return token;
          })
          .finally(() => (inFlight = undefined));
      }
      return inFlight;
    },
  };
}

export function createTokenSource(auth: TokenSourceOptions): TokenSource {
  return cachedTokenSource(auth.mode === 'managedIdentity' ? managedIdentityFetch(auth) : confidentialClientFetch(auth));
}

function managedIdentityFetch(auth: TokenSourceOptions): Fetch {
  const credential = lazyManagedIdentity(auth.clientId);
  return async () => {
    try {
      const token = await credential.getToken(auth.scope);
      if (!token) throw new Error('no token returned');
      return { token: token.token, expiresOn: token.expiresOnTimestamp };
    } catch (error) {
      // The managed identity endpoint is local to the host: failures are worth retrying.
      throw new TokenError(`Managed identity token request failed: ${describe(error)}`, true);
    }
  };
}

function confidentialClientFetch(auth: TokenSourceOptions): Fetch {
  const configuration: Configuration = {
    auth: {
      clientId: auth.clientId!,
      authority: `${auth.authorityHost}/${auth.tenantId}`,
      // Trust the configured host as is, instead of asking login.microsoftonline.com to vouch for it
      // (instance discovery): the same for the public cloud, sovereign clouds and a local endpoint.
      knownAuthorities: [new URL(auth.authorityHost).host],
      ...appCredential(auth),
    },
  };
  let client: Promise<ConfidentialClientApplication> | undefined;
  return async (forceRefresh) => {
    try {
      client ??= import('@azure/msal-node').then(({ ConfidentialClientApplication }) => new ConfidentialClientApplication(configuration));
      const result = await (await client).acquireTokenByClientCredential({ scopes: [auth.scope], skipCache: forceRefresh });
      if (!result?.accessToken || !result.expiresOn) throw new Error('token endpoint returned no access token');
      return { token: result.accessToken, expiresOn: result.expiresOn.getTime() };
    } catch (error) {
      throw classifyMsalError(error);
    }
  };
}

function appCredential(auth: TokenSourceOptions): Pick<Configuration['auth'], 'clientSecret' | 'clientCertificate' | 'clientAssertion'> {
  if (auth.mode === 'clientSecret') return { clientSecret: auth.clientSecret! };
  if (auth.mode === 'clientCertificate') return { clientCertificate: certificateCredential(auth.clientCertificatePem!) };
  // federatedIdentity: the app registration trusts a managed identity, whose token is the client assertion.
  // No secret or certificate exists anywhere.
  const identity = lazyManagedIdentity(auth.managedIdentityClientId);
  return {
    clientAssertion: async () => {
      try {
        const token = await identity.getToken(`${auth.federationAudience}/.default`);
        if (!token) throw new Error('no token returned');
        return token.token;
      } catch (error) {
        throw new TokenError(`Managed identity token for the federated credential failed: ${describe(error)}`, true);
      }
    },
  };
}

function certificateCredential(pem: string) {
  const certificatePem = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
  if (!certificatePem) throw new TokenError('MAIL_CLIENT_CERTIFICATE: no certificate block in the PEM', false, 'config');
  const certificate = new X509Certificate(certificatePem);
  const privateKey = createPrivateKey(pem).export({ format: 'pem', type: 'pkcs8' }).toString();
  return {
    thumbprintSha256: certificate.fingerprint256.replace(/:/g, ''),
    privateKey,
    x5c: certificatePem,
  };
}

// AADSTS codes that setup, not time, will fix.
const PERMANENT_AADSTS = /AADSTS(7000215|7000222|700016|90002|700027|50049|500011|1002012|700024)\b/;

function classifyMsalError(error: unknown): TokenError {
  const message = describe(error);
  const code = (error as { errorCode?: string }).errorCode;
  const aadsts = message.match(/AADSTS\d+/)?.[0];
  const permanent = PERMANENT_AADSTS.test(message) || code === 'invalid_client' || code === 'unauthorized_client';
  return new TokenError(`Token request failed${aadsts ? ` (${aadsts})` : ''}: ${message}`, !permanent, aadsts ?? code);
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // First line only: library messages can append trace ids and long JSON.
  return text.split('\n')[0].slice(0, 500);
}
