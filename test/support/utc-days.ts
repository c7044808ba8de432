/** Today's date in UTC, as the API names a day (`YYYY-MM-DD`). */
export const utcDay = (): string => new Date().toISOString().slice(0, 10);

/**
 * Runs `act`, which makes the API stamp events with its clock, and returns what it returned
 * with the UTC days those events can be counted under: the day before it and the day after it,
 * one day, or two when the run crosses midnight (a test that looked only at the day it
 * started would then miss them).
 */
export const withStampDays = async <T>(
  act: () => Promise<T>,
): Promise<{ result: T; days: string[] }> => {
  const first = utcDay();
  const result = await act();
  const last = utcDay();
  return { result, days: first === last ? [first] : [first, last] };
};
