import type { Admin } from 'kafkajs';
import type { KafkaMapping } from './types.ts';

/**
 * Creates the topics that do not exist yet (`partitions` each) and returns every topic's
 * partition count. MSK would fail a mapping on a missing topic; locally a fresh broker must not
 * stop `npm start`, and a consumer subscribed to a missing topic only sees it after a metadata
 * refresh.
 */
export const ensureTopics = async (
  admin: Admin,
  topics: readonly string[],
  partitions: number,
): Promise<Map<string, number>> => {
  const unique = [...new Set(topics)];
  const existing = new Set(await admin.listTopics());
  const missing = unique.filter((topic) => !existing.has(topic));
  if (missing.length > 0) {
    await admin.createTopics({
      topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
      waitForLeaders: true,
    });
  }
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics: unique });
  return new Map(metadata.map(({ name, partitions: list }) => [name, list.length]));
};

/** True when the group has never committed an offset for `topic` (a NEW mapping in MSK terms). */
export const isNewGroup = async (
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<boolean> => {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).every(({ offset }) => Number(offset) < 0);
};

/**
 * AT_TIMESTAMP for a new group: sets the group's offsets to the first record at or after the
 * timestamp, before its consumer joins. An existing group keeps its committed offsets.
 * @returns whether the offsets were set.
 */
export const startNewGroupAtTimestamp = async (
  admin: Admin,
  mapping: Pick<KafkaMapping, 'consumerGroupId' | 'topic' | 'startingPositionTimestamp'>,
): Promise<boolean> => {
  const { consumerGroupId: groupId, topic, startingPositionTimestamp } = mapping;
  if (startingPositionTimestamp === undefined || !(await isNewGroup(admin, groupId, topic))) {
    return false;
  }
  const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, startingPositionTimestamp);
  await admin.setOffsets({
    groupId,
    topic,
    partitions: offsets.map(({ partition, offset }) => ({ partition, offset })),
  });
  return true;
};
