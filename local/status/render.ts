import type { Part, StatusReport } from './collect.ts';

/** The status report as one plain-text screen, part by part. */

const section = <T>(title: string, part: Part<T>, lines: (value: T) => string[]): string[] => [
  `== ${title}`,
  ...(part.ok ? lines(part.value) : [`  cannot see it: ${part.problem}`]),
  '',
];

const table = (rows: string[][]): string[] => {
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows.map((row) =>
    `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd(),
  );
};

export const renderStatus = (report: StatusReport): string =>
  [
    `Narad status at ${report.at}`,
    '',
    ...section('Health', { ok: true, value: report.health }, ({ kafka, redis }) => [
      `  kafka  ${kafka.ok ? `up (${kafka.value.brokers} broker(s), ${kafka.value.latencyMs} ms)` : `DOWN or unseen: ${kafka.problem}`}`,
      `  redis  ${redis.ok ? `up (${redis.value.latencyMs} ms)` : `DOWN or unseen: ${redis.problem}`}`,
    ]),
    ...section('Consumer lag (committed offset vs end offset)', report.lag, (rows) =>
      rows.length === 0
        ? ['  no mapping topic exists yet']
        : table([
            ['mapping', 'topic', 'partition', 'committed', 'end', 'lag'],
            ...rows.map((row) => [
              row.mapping,
              row.topic,
              String(row.partition),
              row.committed === null ? '-' : String(row.committed),
              String(row.end),
              String(row.lag),
            ]),
          ]),
    ),
    ...section('Dead-letter topics (*.dlq)', report.deadLetters, (rows) =>
      rows.length === 0
        ? ['  none']
        : table(rows.map(({ topic, records }) => [topic, `${records} record(s)`])),
    ),
    ...section('Fallback lists (kafka_fallback:<topic>)', report.fallback, (rows) =>
      table(rows.map(({ topic, length }) => [`kafka_fallback:${topic}`, String(length)])),
    ),
    ...section('Orders by state', report.orders, (counts) =>
      Object.keys(counts).length === 0
        ? ['  none']
        : table(
            Object.entries(counts)
              .sort()
              .map(([state, count]) => [state, String(count)]),
          ),
    ),
    ...section('Analytics today', report.analytics, (stats) => [
      `  ${stats.date}: ${stats.totalEvents} event(s), ${stats.userActions} user action(s), ${stats.activeUsers} active user(s)`,
      ...Object.entries(stats.actions).map(([action, count]) => `    ${action}: ${count}`),
    ]),
  ].join('\n');
