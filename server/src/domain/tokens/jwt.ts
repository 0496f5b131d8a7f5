// HS256 JWTs exactly as flat-manager signs them: the configured secret is base64 and the
// HMAC key is its decoded bytes, so tokens from an existing flat-manager keep working.
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AuthenticationError } from '../errors.ts';
import { claimsSchema, type Claims } from './claims.ts';

export function secretKey(base64Secret: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64Secret, 'base64'));
}

export async function signClaims(claims: Claims, key: Uint8Array): Promise<string> {
  const payload: Record<string, unknown> = {
    sub: claims.sub,
    scope: claims.scope,
    prefixes: claims.prefixes,
    apps: claims.apps,
    repos: claims.repos,
    exp: claims.exp,
  };
  if (claims.name != null) payload.name = claims.name;
  if (claims.jti != null) payload.jti = claims.jti;
  if (claims.token_type != null) payload.token_type = claims.token_type;
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key);
}

/**
 * Verified tokens by their exact text. Verification is pure (same token, same key, same
 * claims), so only expiry is re-checked; revocation is the token service's job.
 */
const verifiedByKey = new WeakMap<Uint8Array, Map<string, Claims>>();
const maxCached = 10_000;

export async function verifyToken(token: string, key: Uint8Array, now = new Date()): Promise<Claims> {
  let verified = verifiedByKey.get(key);
  if (!verified) verifiedByKey.set(key, (verified = new Map()));
  const cached = verified.get(token);
  if (cached) {
    if (cached.exp * 1000 <= now.getTime()) throw new AuthenticationError('expired', 'token expired');
    return cached;
  }
  const claims = await verifyUncached(token, key, now);
  if (verified.size >= maxCached) verified.delete(verified.keys().next().value!);
  verified.set(token, claims);
  return claims;
}

async function verifyUncached(token: string, key: Uint8Array, now: Date): Promise<Claims> {
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: now }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new AuthenticationError('expired', 'token expired');
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) throw new AuthenticationError('bad-signature', 'token signature is not valid');
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw new AuthenticationError('malformed', `token claim ${err.claim} is not valid: ${err.reason}`);
    throw new AuthenticationError('malformed', 'token is not a valid JWT');
  }
  const parsed = claimsSchema.safeParse(payload);
  if (!parsed.success) throw new AuthenticationError('malformed', `token claims are not valid: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}
