/**
 * What a function's result means for the batch it was given, under Lambda's rules for partial
 * batch responses (Kinesis / DynamoDB / Kafka "success and failure conditions"):
 * - success: no result, `{}`, `batchItemFailures` null or empty;
 * - partial: `batchItemFailures` in the Kafka object form
 *   `{itemIdentifier: {"topic-partition": "t-0", offset: 15}}`; per partition the lowest offset
 *   named is the checkpoint, everything before it is done, it and what follows are redelivered;
 * - invalid (the whole batch is retried): anything else, e.g. the SQS/Kinesis string form, a
 *   missing or empty itemIdentifier, a partition or offset that was not in the batch.
 * Without ReportBatchItemFailures on the mapping Lambda does not look at the result at all.
 */

export type BatchDecision =
  | { kind: 'success' }
  /** topic-partition -> first offset to redeliver; partitions not named are done. */
  | { kind: 'partial'; redeliverFrom: ReadonlyMap<string, number> }
  | { kind: 'invalid'; reason: string };

/** The offsets of the batch, per `<topic>-<partition>`. */
export type BatchOffsets = ReadonlyMap<string, ReadonlySet<number>>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describe = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

type Item = { ok: true; topicPartition: string; offset: number } | { ok: false; reason: string };

const readItem = (item: unknown, batch: BatchOffsets): Item => {
  const identifier = isObject(item) ? item.itemIdentifier : undefined;
  if (!isObject(identifier)) {
    return {
      ok: false,
      reason: `itemIdentifier must be {"topic-partition", offset}, got ${describe(item)}`,
    };
  }
  const topicPartition = identifier['topic-partition'];
  const { offset } = identifier;
  if (
    typeof topicPartition !== 'string' ||
    typeof offset !== 'number' ||
    !Number.isInteger(offset)
  ) {
    return {
      ok: false,
      reason: `itemIdentifier needs a "topic-partition" string and an integer offset, got ${describe(identifier)}`,
    };
  }
  if (!batch.get(topicPartition)?.has(offset)) {
    return { ok: false, reason: `${topicPartition} offset ${offset} was not in the batch` };
  }
  return { ok: true, topicPartition, offset };
};

/** Reads a function's result as a Kafka partial-batch response. Pure. */
export const interpretBatchResult = (result: unknown, batch: BatchOffsets): BatchDecision => {
  if (result === undefined || result === null) return { kind: 'success' };
  if (!isObject(result)) {
    return { kind: 'invalid', reason: `the response is not an object: ${describe(result)}` };
  }
  const failures = result.batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) {
    return { kind: 'invalid', reason: `batchItemFailures is not a list: ${describe(failures)}` };
  }
  if (failures.length === 0) return { kind: 'success' };
  const redeliverFrom = new Map<string, number>();
  for (const entry of failures) {
    const item = readItem(entry, batch);
    if (!item.ok) return { kind: 'invalid', reason: item.reason };
    const known = redeliverFrom.get(item.topicPartition);
    if (known === undefined || item.offset < known)
      redeliverFrom.set(item.topicPartition, item.offset);
  }
  return { kind: 'partial', redeliverFrom };
};
