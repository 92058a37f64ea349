// How the app gets its Exchange access token: its own managed identity, or an app registration with a secret,
// a certificate, or a managed identity's token as the federated client assertion.
export const AUTH_MODES = ['managedIdentity', 'clientSecret', 'clientCertificate', 'federatedIdentity'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
