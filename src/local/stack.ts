// Everything the app talks to, running locally: Azurite, a managed identity endpoint, an Entra-style
// token endpoint and an SMTP server that behaves like Exchange Online's submission endpoint.
// The sandbox (npm start) and the tests use this same stack.
import { join } from 'node:path';
import type { AuthMode } from '../identity/auth-mode';
import { startAzurite, type Azurite } from './azurite';
import { createClientCertificate, ensureLocalCertificates, type ClientCertificate } from './certs';
import { startEntraEndpoint, type EntraEndpoint } from './entra-endpoint';
import { startManagedIdentityEndpoint, type ManagedIdentityEndpoint } from './managed-identity-endpoint';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtp-sink';
import { EXCHANGE_AUDIENCE, TokenAuthority } from './token-authority';
import { APP_ROOT } from '../host-settings';

export const LOCAL_TENANT_ID = '00000000-0000-4000-8000-000000000001';
export const LOCAL_CLIENT_ID = '00000000-0000-4000-8000-00000000a991';
/** A secretless app registration trusting the local user-assigned identity (federatedIdentity mode). */
export const LOCAL_FEDERATED_CLIENT_ID = '00000000-0000-4000-8000-00000000fed1';
export const LOCAL_SENDER = 'noreply@contoso.example';

export interface LocalStackOptions {
  /** Azurite keeps its data here; in memory when absent. */
  dataDir?: string;
  azuritePorts?: { blob: number; queue: number; table: number };
  smtpPort?: number;
  mailDir?: string;
  onMessage?: SmtpSinkOptions['onMessage'];
  maxConnectionsPerMailbox?: number;
  tokenLifetimeSeconds?: number;
}

export interface LocalStack {
  azurite: Azurite;
  tokens: TokenAuthority;
  managedIdentity: ManagedIdentityEndpoint;
  entra: EntraEndpoint;
  smtp: SmtpSink;
  clientSecret: string;
  clientCertificate: ClientCertificate;
  /** App settings that point the app at this stack, for the given auth mode. */
  settings(mode: AuthMode): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const tls = await ensureLocalCertificates(join(APP_ROOT, '.local', 'certs'));
  const tokens = new TokenAuthority();
  const clientSecret = `local-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const clientCertificate = await createClientCertificate();
  const lifetime = options.tokenLifetimeSeconds;
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
  };
  try {
    const azurite = await startAzurite({ location: options.dataDir, ports: options.azuritePorts });
    started.push(azurite);
    const managedIdentity = await startManagedIdentityEndpoint({ tokens, tenantId: LOCAL_TENANT_ID, userAssignedClientIds: [LOCAL_CLIENT_ID], tokenLifetimeSeconds: lifetime });
    started.push({ stop: () => managedIdentity.close() });
    const entra = await startEntraEndpoint({
      tokens,
      tls,
      tokenLifetimeSeconds: lifetime,
      apps: [
        { tenantId: LOCAL_TENANT_ID, clientId: LOCAL_CLIENT_ID, secret: clientSecret, certificatePem: clientCertificate.certPem },
        { tenantId: LOCAL_TENANT_ID, clientId: LOCAL_FEDERATED_CLIENT_ID, federatedIdentity: { clientId: LOCAL_CLIENT_ID, audience: 'api://AzureADTokenExchange' } },
      ],
    });
    started.push({ stop: () => entra.close() });
    const smtp = await startSmtpSink({
      tls,
      tokens,
      audience: EXCHANGE_AUDIENCE,
      port: options.smtpPort,
      mailDir: options.mailDir,
      onMessage: options.onMessage,
      maxConnectionsPerMailbox: options.maxConnectionsPerMailbox,
    });
    started.push(smtp);

    return {
      azurite,
      tokens,
      managedIdentity,
      entra,
      smtp,
      clientSecret,
      clientCertificate,
      settings(mode) {
        const common: Record<string, string> = {
          MAIL_AUTH_MODE: mode,
          MAIL_SMTP_HOST: smtp.host,
          MAIL_SMTP_PORT: String(smtp.port),
          MAIL_ALLOWED_SENDERS: `${LOCAL_SENDER},@contoso.example`,
          MAIL_DEFAULT_SENDER: LOCAL_SENDER,
          MailStorage: azurite.connectionString,
        };
        if (mode === 'managedIdentity') return { ...common, ...managedIdentity.env };
        const app = { ...common, MAIL_TENANT_ID: LOCAL_TENANT_ID, MAIL_CLIENT_ID: LOCAL_CLIENT_ID, MAIL_AUTHORITY_HOST: entra.authorityHost };
        if (mode === 'clientSecret') return { ...app, MAIL_CLIENT_SECRET: clientSecret };
        if (mode === 'clientCertificate') return { ...app, MAIL_CLIENT_CERTIFICATE: `${clientCertificate.keyPem}\n${clientCertificate.certPem}` };
        return { ...app, ...managedIdentity.env, MAIL_CLIENT_ID: LOCAL_FEDERATED_CLIENT_ID, MAIL_MANAGED_IDENTITY_CLIENT_ID: LOCAL_CLIENT_ID };
      },
      stop: stopAll,
    };
  } catch (error) {
    // A part that failed to start must not leave the others running (Azurite is a child process).
    await stopAll();
    throw error;
  }
}
