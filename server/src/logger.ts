import { pino, type DestinationStream, type Logger } from 'pino';
import type { FmdConfig } from './config/index.ts';
import { currentRequestId } from './http/request-id.ts';

export function createLogger(config: Pick<FmdConfig, 'logLevel'>, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'fmd' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Whatever logs while a request is handled (a domain service, say) names the request.
    mixin: (obj) => {
      const reqId = 'reqId' in obj ? undefined : currentRequestId();
      return reqId ? { reqId } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
