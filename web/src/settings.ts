// Where the dashboard keeps the server URL and token (the shell passes sessionStorage: one tab, until sign-out).
export type Connection = { url: string; token: string };

const key = 'fmd.connection';

export function loadConnection(storage: Pick<Storage, 'getItem'>): Connection | undefined {
  try {
    const value = JSON.parse(storage.getItem(key) ?? 'null') as Partial<Connection> | null;
    return typeof value?.url === 'string' && typeof value.token === 'string' && value.url && value.token ? { url: value.url, token: value.token } : undefined;
  } catch {
    return undefined;
  }
}

export function saveConnection(storage: Pick<Storage, 'setItem'>, connection: Connection): void {
  storage.setItem(key, JSON.stringify({ url: connection.url.trim(), token: connection.token.trim() }));
}

export function forgetConnection(storage: Pick<Storage, 'removeItem'>): void {
  storage.removeItem(key);
}
