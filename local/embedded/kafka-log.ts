import { type IHeaders, type KafkaMessage, type Message, Partitioners } from 'kafkajs';
import type { AppendedRecord, KafkaLogWriter } from '../../lib/embedded-parts.ts';

/**
 * The embedded Kafka: topics of a few partitions held in this process's memory. Records keep
 * Kafka's shape (offsets per partition, key, value, headers as bytes), and keys pick their
 * partition with the Java client's murmur2, as on a real broker with as many partitions.
 */

export const EMBEDDED_PARTITIONS = 3;

type Listener = (topic: string) => void;

const toBuffer = (value: Buffer | string | null | undefined): Buffer | null =>
  value == null ? null : typeof value === 'string' ? Buffer.from(value) : value;

const headerBytes = (headers: IHeaders | undefined): IHeaders =>
  Object.fromEntries(
    Object.entries(headers ?? {}).flatMap(([name, value]) =>
      value == null
        ? []
        : [
            [
              name,
              Array.isArray(value) ? value.map((one) => Buffer.from(one)) : Buffer.from(value),
            ],
          ],
    ),
  );

export class EmbeddedKafkaLog implements KafkaLogWriter {
  /** topic -> partition -> records in offset order (the offset is the index). */
  readonly #topics = new Map<string, KafkaMessage[][]>();
  readonly #listeners = new Set<Listener>();
  readonly #partitioner = Partitioners.DefaultPartitioner();

  constructor(readonly partitions = EMBEDDED_PARTITIONS) {}

  #partitionsOf(topic: string): KafkaMessage[][] {
    let partitions = this.#topics.get(topic);
    if (partitions === undefined) {
      partitions = Array.from({ length: this.partitions }, () => []);
      this.#topics.set(topic, partitions);
    }
    return partitions;
  }

  /** Appends kafkajs messages to `topic` (created on first use) and tells the listeners. */
  append(topic: string, messages: Message[]): AppendedRecord[] {
    const partitions = this.#partitionsOf(topic);
    const partitionMetadata = partitions.map((_, partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));
    const appended = messages.map((message) => {
      const partition = this.#partitioner({ topic, partitionMetadata, message });
      const records = partitions[partition] as KafkaMessage[];
      const offset = records.length;
      records.push({
        key: toBuffer(message.key),
        value: toBuffer(message.value),
        headers: headerBytes(message.headers),
        timestamp: String(message.timestamp ?? Date.now()),
        offset: String(offset),
        attributes: 0,
      });
      return { partition, offset };
    });
    for (const listener of this.#listeners) listener(topic);
    return appended;
  }

  /** Up to `max` records of a partition from `offset` on, as a kafkajs consumer sees them. */
  read(topic: string, partition: number, offset: number, max: number): KafkaMessage[] {
    return this.#topics.get(topic)?.[partition]?.slice(offset, offset + max) ?? [];
  }

  /** The next offset of each partition of `topic` (all 0 for a topic never written). */
  endOffsets(topic: string): number[] {
    return this.#partitionsOf(topic).map((records) => records.length);
  }

  topicNames(): string[] {
    return [...this.#topics.keys()].sort();
  }

  /** Calls `listener` after every append; returns the unsubscribe. */
  onAppend(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
