// The app's managed identity as a TokenCredential that loads @azure/identity on its first token request: a cold start
// does not pay for the SDK before something needs a token, and configurations without a managed identity never load it.
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';

/** A ManagedIdentityCredential for the user-assigned identity clientId (system-assigned without), built on first use. */
export function lazyManagedIdentity(clientId?: string): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      credential ??= import('@azure/identity').then(
        ({ ManagedIdentityCredential }) => new ManagedIdentityCredential(clientId ? { clientId } : {}),
      );
      return (await credential).getToken(scopes, options);
    },
  };
}
