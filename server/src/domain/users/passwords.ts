// Passwords: argon2id (Node's own implementation) in the PHC string form other tools read:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, base64 without padding.
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { InvalidInputError } from '../errors.ts';

const argon2Async = promisify(argon2);

/** OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane. */
const params = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 };
export const minPasswordLength = 10;
export const maxPasswordLength = 1024;

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

export function checkPasswordRules(password: string, field = 'password'): void {
  if (password.length < minPasswordLength) throw new InvalidInputError(`a password needs at least ${minPasswordLength} characters`, field);
  if (password.length > maxPasswordLength) throw new InvalidInputError(`a password is at most ${maxPasswordLength} characters`, field);
  if (password.toWellFormed() !== password) throw new InvalidInputError('a password must be valid Unicode text', field);
}

export async function hashPassword(password: string): Promise<string> {
  const nonce = randomBytes(16);
  const tag = await argon2Async('argon2id', { message: password, nonce, ...params });
  return `$argon2id$v=19$m=${params.memory},t=${params.passes},p=${params.parallelism}$${b64(nonce)}$${b64(tag)}`;
}

const phc = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{16,})$/;

/** Whether `password` matches the stored hash; a hash fmd cannot read matches nothing. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = phc.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  const tag = await argon2Async('argon2id', {
    message: password,
    nonce: Buffer.from(m[4]!, 'base64'),
    memory: Number(m[1]),
    passes: Number(m[2]),
    parallelism: Number(m[3]),
    tagLength: expected.length,
  });
  return tag.length === expected.length && timingSafeEqual(tag, expected);
}

/** The same work as a real check, for a user that does not exist (the answer takes as long). */
let dummy: Promise<string> | undefined;
export async function verifyNothing(password: string): Promise<void> {
  dummy ??= hashPassword('fmd: no such user, no such password');
  await verifyPassword(password, await dummy);
}
