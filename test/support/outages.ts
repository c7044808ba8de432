import { inject } from 'vitest';
import { ensureKafkaBroker, stopKafkaBroker } from '../../local/kafka/broker.ts';
import { ensureGateway, stopGateway } from '../../local/stack.ts';
import { testStackPlan } from './test-stack.ts';

/**
 * Stops and starts the servers of this run's test stack, for the outage tests. Only the
 * tests' own servers: never the development stack, never another run's.
 */
export const testStackOutages = () => {
  const plan = testStackPlan(inject('portBase'));
  return {
    plan,
    stopBroker: () => stopKafkaBroker(plan.broker),
    startBroker: () => ensureKafkaBroker(plan.broker),
    stopGateway: () => stopGateway(plan),
    startGateway: () => ensureGateway(plan),
  };
};
