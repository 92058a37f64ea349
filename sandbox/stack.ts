// Everything the app talks to, running locally: Azurite, a managed identity endpoint, an Entra-style
// token endpoint and an SMTP server that behaves like Exchange Online's submission endpoint.
// The sandbox (npm start) and the tests use this same stack.
import { join } from 'node:path';
import type { AuthMode } from '../src/identity/auth-mode';
import { startAzurite, type Azurite } from './azurite';
import { createClientCertificate, ensureLocalCertificates, type ClientCertificate } from './certs';
import { startEntraEndpoint, type EntraEndpoint } from './entra-endpoint';
import { startManagedIdentityEndpoint, type ManagedIdentityEndpoint } from './managed-identity-endpoint';
import { startSmtpSink, type SmtpSink, type SmtpSinkOptions } from './smtp-sink';
import { EXCHANGE_AUDIENCE, TokenAuthority } from './token-authority';
import { APP_ROOT } from '../src/app-root';
import { createChaosRecipients } from './chaos-recipients';
import { SendingMailboxes } from './sending-mailboxes';
import { startImapServer, type ImapServer } from './imap-server';
import { startCallbackReceiver, type CallbackReceiver, type ReceivedCallback } from './callback-receiver';

export const LOCAL_TENANT_ID = '00000000-0000-4000-8000-000000000001';
export const LOCAL_CLIENT_ID = '00000000-0000-4000-8000-00000000a991';
/** A secretless app registration trusting the local user-assigned identity (federatedIdentity mode). */
export const LOCAL_FEDERATED_CLIENT_ID = '00000000-0000-4000-8000-00000000fed1';
export const LOCAL_SENDER = 'noreply@contoso.example';
/** A second tenant with its own app registration, for sender profiles: fabrikam.example's mailboxes live there. */
export const LOCAL_FABRIKAM_TENANT_ID = '00000000-0000-4000-8000-000000000002';
export const LOCAL_FABRIKAM_CLIENT_ID = '00000000-0000-4000-8000-00000000fab1';
export const LOCAL_FABRIKAM_SENDER = 'noreply@fabrikam.example';
/** The app setting that holds the fabrikam profile's client secret (a Key Vault reference in Azure). */
export const LOCAL_FABRIKAM_SECRET_SETTING = 'MAIL_FABRIKAM_CLIENT_SECRET';

export interface LocalStackOptions {
  /** Azurite keeps its data here; in memory when absent. */
  dataDir?: string;
  azuritePorts?: { blob: number; queue: number; table: number };
  smtpPort?: number;
  mailDir?: string;
  onMessage?: SmtpSinkOptions['onMessage'];
  maxConnectionsPerMailbox?: number;
  tokenLifetimeSeconds?: number;
  onCallback?: (callback: ReceivedCallback) => void;
  /** How long after the 250 a chaos recipient's report lands in the sending mailbox (default 3 s). */
  reportDelayMs?: number;
}

export interface LocalStack {
  azurite: Azurite;
  tokens: TokenAuthority;
  managedIdentity: ManagedIdentityEndpoint;
  entra: EntraEndpoint;
  smtp: SmtpSink;
  /** The sending mailboxes, where the chaos recipients' delivery reports land. */
  mailboxes: SendingMailboxes;
  /** The sending mailboxes over IMAP (implicit TLS, XOAUTH2), where the delivery report reader reads them. */
  imap: ImapServer;
  clientSecret: string;
  /** The fabrikam tenant's app registration secret. */
  fabrikamSecret: string;
  clientCertificate: ClientCertificate;
  /** An https receiver for callbacks that verifies their signatures (callbackUrl: its url and any path). */
  callbacks: CallbackReceiver;
  /** App settings that point the app at this stack, for the given auth mode. */
  settings(mode: AuthMode): Record<string, string>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const tls = await ensureLocalCertificates(join(APP_ROOT, '.local', 'certs'));
  const tokens = new TokenAuthority();
  const randomSecret = () => `local-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const clientSecret = randomSecret();
  const fabrikamSecret = randomSecret();
  const clientCertificate = await createClientCertificate();
  const lifetime = options.tokenLifetimeSeconds;
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
  };
  try {
    const azurite = await startAzurite({ location: options.dataDir, ports: options.azuritePorts });
    started.push(azurite);
    const managedIdentity = await startManagedIdentityEndpoint({
      tokens,
      tenantId: LOCAL_TENANT_ID,
      userAssignedClientIds: [LOCAL_CLIENT_ID],
      tokenLifetimeSeconds: lifetime,
    });
    started.push({ stop: () => managedIdentity.close() });
    const entra = await startEntraEndpoint({
      tokens,
      tls,
      tokenLifetimeSeconds: lifetime,
      apps: [
        { tenantId: LOCAL_TENANT_ID, clientId: LOCAL_CLIENT_ID, secret: clientSecret, certificatePem: clientCertificate.certPem },
        {
          tenantId: LOCAL_TENANT_ID,
          clientId: LOCAL_FEDERATED_CLIENT_ID,
          federatedIdentity: { clientId: LOCAL_CLIENT_ID, audience: 'api://AzureADTokenExchange' },
        },
        { tenantId: LOCAL_FABRIKAM_TENANT_ID, clientId: LOCAL_FABRIKAM_CLIENT_ID, secret: fabrikamSecret },
      ],
    });
    started.push({ stop: () => entra.close() });
    const mailboxes = new SendingMailboxes();
    const tenants = { 'contoso.example': LOCAL_TENANT_ID, 'fabrikam.example': LOCAL_FABRIKAM_TENANT_ID };
    const smtp = await startSmtpSink({
      tls,
      tokens,
      audience: EXCHANGE_AUDIENCE,
      port: options.smtpPort,
      mailDir: options.mailDir,
      onMessage: options.onMessage,
      maxConnectionsPerMailbox: options.maxConnectionsPerMailbox,
      tenants,
      chaos: createChaosRecipients({
        reportDelayMs: options.reportDelayMs,
        deliverReport: (mailbox, raw) => mailboxes.deliver(mailbox, raw),
      }),
    });
    started.push(smtp);
    const imap = await startImapServer({ tls, tokens, mailboxes, tenants, audience: EXCHANGE_AUDIENCE });
    started.push(imap);
    const callbacks = await startCallbackReceiver({ tls, onCallback: options.onCallback });
    started.push({ stop: () => callbacks.close() });

    return {
      azurite,
      tokens,
      managedIdentity,
      entra,
      smtp,
      mailboxes,
      imap,
      clientSecret,
      fabrikamSecret,
      clientCertificate,
      callbacks,
      settings(mode) {
        // Two tenants out of the box: contoso.example through the chosen mode (the default profile), fabrikam.example
        // through its own app registration in its own tenant.
        const fabrikam = {
          name: 'fabrikam',
          senders: ['@fabrikam.example'],
          authMode: 'clientSecret',
          tenantId: LOCAL_FABRIKAM_TENANT_ID,
          clientId: LOCAL_FABRIKAM_CLIENT_ID,
          clientSecretSetting: LOCAL_FABRIKAM_SECRET_SETTING,
          authorityHost: entra.authorityHost,
        };
        const common: Record<string, string> = {
          MAIL_AUTH_MODE: mode,
          MAIL_SMTP_HOST: smtp.host,
          MAIL_SMTP_PORT: String(smtp.port),
          MAIL_ALLOWED_SENDERS: `${LOCAL_SENDER},@contoso.example,${LOCAL_FABRIKAM_SENDER},@fabrikam.example`,
          MAIL_DEFAULT_SENDER: LOCAL_SENDER,
          MAIL_SENDER_PROFILES: JSON.stringify([fabrikam]),
          [LOCAL_FABRIKAM_SECRET_SETTING]: fabrikamSecret,
          MailStorage: azurite.connectionString,
          // Delivery reports (the chaos recipients' bounces and delays) read from the sandbox's IMAP server.
          MAIL_REPORTS_MAILBOXES: `${LOCAL_SENDER},${LOCAL_FABRIKAM_SENDER}`,
          MAIL_REPORTS_IMAP_HOST: imap.host,
          MAIL_REPORTS_IMAP_PORT: String(imap.port),
          // Callbacks to the local receiver, which listens on loopback: the one host allowed to resolve there.
          MAIL_CALLBACK_HOSTS: 'localhost',
          MAIL_CALLBACK_PRIVATE_HOSTS: 'localhost',
          MAIL_CALLBACK_SECRET: callbacks.secret,
        };
        if (mode === 'managedIdentity') return { ...common, ...managedIdentity.env };
        const app = {
          ...common,
          MAIL_TENANT_ID: LOCAL_TENANT_ID,
          MAIL_CLIENT_ID: LOCAL_CLIENT_ID,
          MAIL_AUTHORITY_HOST: entra.authorityHost,
        };
        if (mode === 'clientSecret') return { ...app, MAIL_CLIENT_SECRET: clientSecret };
        if (mode === 'clientCertificate')
          return { ...app, MAIL_CLIENT_CERTIFICATE: `${clientCertificate.keyPem}\n${clientCertificate.certPem}` };
        return {
          ...app,
          ...managedIdentity.env,
          MAIL_CLIENT_ID: LOCAL_FEDERATED_CLIENT_ID,
          MAIL_MANAGED_IDENTITY_CLIENT_ID: LOCAL_CLIENT_ID,
        };
      },
      stop: stopAll,
    };
  } catch (error) {
    // A part that failed to start must not leave the others running (Azurite is a child process).
    await stopAll();
    throw error;
  }
}
