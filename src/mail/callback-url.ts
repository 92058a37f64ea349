// Where a callback may go. A callbackUrl is the caller's, so it is checked three times: its shape with the mail
// request (an absolute https URL, no userinfo, not an address inside a private network), its host against the
// operator's allow-list (MAIL_CALLBACK_HOSTS) at intake and again before each POST, and the addresses its host
// resolves to when the POST connects (a name that resolves into a private network is refused, DNS rebinding too).
import { BlockList, isIP } from 'node:net';

export const MAX_CALLBACK_URL = 2048;

// Addresses a callback must never reach: this host, private networks, link-local (cloud metadata at
// 169.254.169.254), carrier-grade NAT, multicast, reserved and documentation ranges, and IPv6 forms that embed
// IPv4 (NAT64). BlockList matches IPv4-mapped IPv6 (::ffff:10.0.0.1) against the IPv4 rules as well.
const REFUSED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  REFUSED.addSubnet(network, prefix, 'ipv6');
}

/** Whether an IP address (v4 or v6, without brackets) lies in a range a callback must not reach. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: never connect to it
  if (family === 6 && /^::ffff:/i.test(address)) {
    // Mapped IPv4 written in hex (::ffff:7f00:1): judge the IPv4 address it stands for.
    const mapped = mappedIPv4(address);
    if (mapped) return REFUSED.check(mapped, 'ipv4');
  }
  return REFUSED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function mappedIPv4(address: string): string | undefined {
  const tail = address.slice(7);
  if (isIP(tail) === 4) return tail;
  const match = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(tail);
  if (!match) return undefined;
  const [high, low] = [parseInt(match[1], 16), parseInt(match[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** The host of a URL as compared and resolved: lower case, no brackets around IPv6, no trailing dot. */
export function hostOf(url: URL): string {
  return url.hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/**
 * What is wrong with the shape of a callback URL, or undefined. Needs no settings, so the request schema applies it
 * (and the API description shows the field with the mail request).
 */
export function callbackUrlShapeProblem(raw: string): string | undefined {
  if (raw.length > MAX_CALLBACK_URL) return `at most ${MAX_CALLBACK_URL} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:') return 'must be an https URL';
  if (url.username || url.password) return 'must not contain a user name or password';
  if (url.hash) return 'must not contain a fragment';
  const host = hostOf(url);
  if (isIP(host) !== 0 && isPrivateAddress(host)) return `${host} is a private, loopback or link-local address`;
  return undefined;
}

/** MAIL_CALLBACK_HOSTS entries: an exact host name, or "*.example.com" for any host below example.com. */
export const CALLBACK_HOST_ENTRY = /^(\*\.)?(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Whether the operator allows callbacks to this host (exact, or below a "*." entry; a wildcard is not its apex). */
export function isAllowedCallbackHost(host: string, allowed: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((entry) =>
    entry.startsWith('*.') ? name.endsWith(entry.slice(1)) && name.length > entry.length - 1 : name === entry,
  );
}

/**
 * Why a (well-shaped) callback URL may not be used under these settings, or undefined. Said so that the caller
 * knows whether it or the operator has to act.
 */
export function callbackUrlPolicyProblem(raw: string, allowedHosts: readonly string[]): string | undefined {
  if (allowedHosts.length === 0) return 'callbacks are not enabled here (the operator has not set MAIL_CALLBACK_HOSTS)';
  const shape = callbackUrlShapeProblem(raw);
  if (shape) return shape;
  const host = hostOf(new URL(raw));
  if (isIP(host) !== 0) return `${host}: an IP address; use a host name listed in MAIL_CALLBACK_HOSTS`;
  if (!isAllowedCallbackHost(host, allowedHosts)) return `${host} is not a host callbacks may go to (MAIL_CALLBACK_HOSTS)`;
  return undefined;
}
