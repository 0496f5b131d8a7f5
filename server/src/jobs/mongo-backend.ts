// MongoDB job store for users who run MongoDB (jobs-backend: mongo). Not testable here (no
// mongod on these machines): kept thin, and a wrong URL fails at start with a clear message
// instead of Agenda's unhandled rejection.
import type { AgendaBackend } from 'agenda';
import { redactUrl } from '../db/connection.ts';

export async function createMongoBackend(url: string): Promise<AgendaBackend> {
  const { MongoClient } = await import('mongodb');
  const { MongoBackend } = await import('@agendajs/mongo-backend');
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db().command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`jobs-backend mongo: cannot reach ${redactUrl(url)}: ${(err as Error).message}`);
  }
  return new MongoBackend({ mongo: client.db() }) as unknown as AgendaBackend;
}
