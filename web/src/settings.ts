// Where the dashboard keeps the server URL and token (the shell passes sessionStorage: one tab, until sign-out).
// After a password sign-in `token` is the session's short-lived access token, kept with the
// refresh token that renews it (both replaced at each renewal).
export type Connection = { url: string; token: string; refreshToken?: string; accessTokenExpiresAt?: string };

const key = 'fmd.connection';

export function loadConnection(storage: Pick<Storage, 'getItem'>): Connection | undefined {
  try {
    const value = JSON.parse(storage.getItem(key) ?? 'null') as Partial<Connection> | null;
    if (!(typeof value?.url === 'string' && typeof value.token === 'string' && value.url && value.token)) return undefined;
    const connection: Connection = { url: value.url, token: value.token };
    if (typeof value.refreshToken === 'string' && value.refreshToken) connection.refreshToken = value.refreshToken;
    if (typeof value.accessTokenExpiresAt === 'string') connection.accessTokenExpiresAt = value.accessTokenExpiresAt;
    return connection;
  } catch {
    return undefined;
  }
}

export function saveConnection(storage: Pick<Storage, 'setItem'>, connection: Connection): void {
  const { url, token, refreshToken, accessTokenExpiresAt } = connection;
  storage.setItem(key, JSON.stringify({ url: url.trim(), token: token.trim(), ...(refreshToken && { refreshToken }), ...(accessTokenExpiresAt && { accessTokenExpiresAt }) }));
}

export function forgetConnection(storage: Pick<Storage, 'removeItem'>): void {
  storage.removeItem(key);
}
