import type { PartitionSlice } from '../lambda/consumer/whole-batch.ts';
import type { KafkaRecord } from '../lambda/kafka-event.ts';
import { classifyRedisError } from '../redis/errors.ts';
import type { RedisService } from '../redis/service.ts';
import { planUserEvent, type UserEventPlan } from './users.ts';

/**
 * Sends the plans of a batch's usable `user.events` records (planUserEvent) in ONE pipeline
 * request: a DEL per USER_UPDATED, a SET ... EX per stored session, nothing for the rest.
 * `plans` must be each partition's in offset order. A pipeline runs its commands in the order
 * sent, so each partition's land in offset order; between partitions Kafka defines no order,
 * and none is needed: user.events is keyed by userId, so the keys of one user (the profile,
 * the preferences, the sessions of its logins) only come from one partition.
 * Idempotent on redelivery: the same records give the same DELs and the same SETs in the same
 * order, each session's TTL counted from its login time (not from now), so a batch delivered
 * again ends in the same state; a retry after a failure that Redis half applied (a pipeline is
 * not atomic) is such a redelivery. Without Redis configured there is no cache to change, so
 * nothing is sent.
 * @returns the commands sent (0: no request was made).
 * @throws RedisUnavailableError when Redis cannot be reached, RedisCommandError when it refuses
 *   the request or any command in it (@upstash/redis rejects the whole exec for one failed
 *   command): the consumer then fails the batch, and it is delivered again whole.
 */
export const applyUserEventPlans = async (
  redis: RedisService | undefined,
  plans: Iterable<UserEventPlan>,
): Promise<number> => {
  if (!redis) return 0;
  // Replies are OK and counts: the client that leaves them unparsed costs less per command.
  const pipeline = redis.unparsed.pipeline();
  for (const plan of plans) {
    if (plan.effect === 'invalidated') pipeline.del(...plan.keys);
    else if (plan.effect === 'session-stored')
      pipeline.set(plan.key, plan.session, { ex: plan.ttlSeconds });
    else if (plan.effect === 'refused')
      throw new Error(`a refused user event reached the batch (${plan.problem})`);
  }
  const commands = pipeline.length();
  // @upstash/redis refuses to send an empty pipeline.
  if (commands === 0) return 0;
  try {
    await pipeline.exec();
  } catch (error) {
    throw classifyRedisError(error);
  }
  return commands;
};

/**
 * userCacheEvents' two steps over a batch, planning each record once: `problemOf` plans a
 * record at its `now()` and refuses what cannot be applied (it is dead-lettered), `apply` sends
 * the plans of the usable ones, kept by record, in one request (applyUserEventPlans).
 */
export const userEventBatches = (now: () => number = Date.now) => {
  const plans = new WeakMap<KafkaRecord, UserEventPlan>();
  const planOf = (record: KafkaRecord): UserEventPlan => {
    let plan = plans.get(record);
    if (plan === undefined) {
      plan = planUserEvent(record.value, now());
      plans.set(record, plan);
    }
    return plan;
  };
  return {
    problemOf: (_value: unknown, record: KafkaRecord): string | undefined => {
      const plan = planOf(record);
      return plan.effect === 'refused' ? plan.problem : undefined;
    },
    apply: async (redis: RedisService | undefined, slices: readonly PartitionSlice<unknown>[]) => {
      await applyUserEventPlans(
        redis,
        slices.flatMap((slice) => slice.records.map(planOf)),
      );
    },
  };
};
