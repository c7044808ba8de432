/** The local MSK event-source mapping: the public API of local/msk-bridge. */

export {
  buildKafkaEvent,
  type KafkaEventPayload,
  type KafkaEventRecord,
  toEventRecord,
} from '../../lib/lambda/kafka-event-builder.ts';
export { type MskBridge, type MskBridgeOptions, startMskBridge } from './bridge.ts';
export * from './errors.ts';
export { type InProcessHandler, inProcessInvoker, offlineInvoker } from './invokers.ts';
export { consoleLog, silentLog } from './log.ts';
export { loadMappingsFromServerless, readMappings } from './mappings.ts';
export type * from './types.ts';
