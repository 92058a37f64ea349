// Certificates for the local servers. MSAL only talks to https authorities and the SMTP sink offers STARTTLS,
// so both need a certificate that Node trusts: a local CA (trusted via NODE_EXTRA_CA_CERTS, see
// scripts/with-local-ca.mjs) and a server certificate for localhost signed by it.
// selfsigned 5 generates with WebCrypto, which is why these functions are async.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface LocalTls {
  caPath: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

export interface ClientCertificate {
  certPem: string;
  keyPem: string;
  /** Hex, upper case, no colons: the form MSAL's `clientCertificate.thumbprintSha256` expects. */
  thumbprintSha256: string;
  thumbprintSha1: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const FILES = { ca: 'ca.pem', cert: 'server.pem', key: 'server-key.pem' } as const;

/** Returns the CA and server certificate in `dir`, creating them when missing, mismatched or expiring within a day. */
export async function ensureLocalCertificates(dir: string): Promise<LocalTls> {
  const existing = readValid(dir);
  if (existing) return existing;
  mkdirSync(dir, { recursive: true });
  const { caCertPem, certPem, keyPem } = await createLocalCertificates();
  // Write to temporary names and rename, so a process starting in parallel never reads half a file.
  // The CA goes last: a CA without its server certificate would make readValid regenerate.
  for (const [name, content] of [
    [FILES.key, keyPem],
    [FILES.cert, certPem],
    [FILES.ca, caCertPem],
  ] as const) {
    const tmp = join(dir, `${name}.${process.pid}.tmp`);
    writeFileSync(tmp, content, { mode: 0o600 });
    renameSync(tmp, join(dir, name));
  }
  return { caPath: join(dir, FILES.ca), caCertPem, certPem, keyPem };
}

/** A self-signed RSA certificate for an app registration's certificate credential (MSAL signs with PS256/RS256). */
export async function createClientCertificate(commonName = 'exo-smtp-mailer local app'): Promise<ClientCertificate> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 365 * DAY_MS),
  });
  const certificate = new X509Certificate(pems.cert);
  return {
    certPem: pems.cert,
    keyPem: pems.private,
    thumbprintSha256: certificate.fingerprint256.replace(/:/g, ''),
    thumbprintSha1: certificate.fingerprint.replace(/:/g, ''),
  };
}

async function createLocalCertificates(): Promise<{ caCertPem: string; certPem: string; keyPem: string }> {
  const notAfterDate = new Date(Date.now() + 365 * DAY_MS);
  // EC keys: generated in milliseconds, and every TLS client in Node accepts them.
  const ca = await generate([{ name: 'commonName', value: 'exo-smtp-mailer local CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { caCertPem: ca.cert, certPem: server.cert, keyPem: server.private };
}

function readValid(dir: string): LocalTls | undefined {
  try {
    const caPath = join(dir, FILES.ca);
    const caCertPem = readFileSync(caPath, 'utf8');
    const certPem = readFileSync(join(dir, FILES.cert), 'utf8');
    const keyPem = readFileSync(join(dir, FILES.key), 'utf8');
    const ca = new X509Certificate(caCertPem);
    const cert = new X509Certificate(certPem);
    const soon = Date.now() + DAY_MS;
    const valid =
      new Date(ca.validTo).getTime() > soon &&
      new Date(cert.validTo).getTime() > soon &&
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      cert.checkPrivateKey(createPrivateKey(keyPem)) &&
      cert.checkHost('localhost') !== undefined &&
      cert.checkIP('127.0.0.1') !== undefined &&
      cert.checkIP('::1') !== undefined;
    return valid ? { caPath, caCertPem, certPem, keyPem } : undefined;
  } catch {
    return undefined; // missing or unreadable: create new ones
  }
}
