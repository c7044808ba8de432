import { type logCreator, logLevel } from 'kafkajs';
import { type KafkaEventRecord, topicPartitionOf } from '../../lib/lambda/kafka-event-builder.ts';
import type { Log, LogLevel } from './types.ts';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Logs to the console from `minLevel` up, each line starting with `<prefix>:`. */
export const consoleLog =
  (minLevel: LogLevel = 'info', prefix = 'msk-bridge'): Log =>
  (level, message) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const line = `${prefix}: ${message}`;
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.log(line);
  };

/** Drops everything (tests that assert on events, not on output). */
export const silentLog: Log = () => undefined;

/** kafkajs's own warnings and errors, routed to `log` (kafkajs runs with logLevel WARN). */
export const kafkaLogCreator =
  (log: Log): logCreator =>
  () =>
  ({ namespace, level, log: entry }) => {
    const { message, error } = entry as { message: string; error?: unknown };
    const detail = error === undefined ? '' : `: ${String(error)}`;
    log(
      level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug',
      `kafkajs ${namespace}: ${message}${detail}`,
    );
  };

/** `orders-0@12..20, orders-2@3..4`: which records a batch holds, for logs. */
export const describeRecords = (records: readonly KafkaEventRecord[]): string => {
  const ranges = new Map<string, [number, number]>();
  for (const { topic, partition, offset } of records) {
    const key = topicPartitionOf({ topic, partition });
    const range = ranges.get(key);
    ranges.set(
      key,
      range ? [Math.min(range[0], offset), Math.max(range[1], offset)] : [offset, offset],
    );
  }
  return [...ranges]
    .map(([key, [first, last]]) =>
      first === last ? `${key}@${first}` : `${key}@${first}..${last}`,
    )
    .join(', ');
};
