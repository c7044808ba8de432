/** The topics of the application (orders, analytics, the health check's probe). */
export const ORDERS_TOPIC = 'orders';
export const USER_EVENTS_TOPIC = 'user.events';
export const SYSTEM_EVENTS_TOPIC = 'system.events';
export const HEALTH_TOPIC = 'health.test';

/**
 * The topics whose messages the application parks in `kafka_fallback:<topic>` while Kafka is
 * unreachable: what the scheduled drain replays. Named, not found with SCAN: a SCAN of the whole
 * keyspace every minute costs Upstash commands in proportion to the database, and would replay
 * lists that other code parked for its own reasons (an operator drains those with
 * `npm run drain -- <topic>`).
 */
export const PARKED_TOPICS: readonly string[] = [
  ORDERS_TOPIC,
  USER_EVENTS_TOPIC,
  SYSTEM_EVENTS_TOPIC,
];
