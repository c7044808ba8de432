import { afterEach, describe, expect, it, vi } from 'vitest';
import { withStampDays } from '../support/utc-days.ts';

describe('withStampDays (tests that read daily stats)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('names one day for a run within a day', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-03T12:00:00.000Z') });

    const { result, days } = await withStampDays(async () => {
      vi.advanceTimersByTime(5_000);
      return 'posted';
    });

    expect(result).toBe('posted');
    expect(days).toEqual(['2026-12-03']);
  });

  it('names both days for a run across midnight UTC', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-02T23:59:59.999Z') });

    const { days } = await withStampDays(async () => {
      vi.advanceTimersByTime(2);
    });

    expect(days).toEqual(['2026-12-02', '2026-12-03']);
  });
});
