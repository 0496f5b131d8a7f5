import { pino, type Logger } from 'pino';
import type { FmdConfig } from './config/index.ts';

export function createLogger(config: Pick<FmdConfig, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { service: 'fmd' }, timestamp: pino.stdTimeFunctions.isoTime });
}
