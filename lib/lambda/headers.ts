import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** A header's value, whatever the case of its name (API Gateway lower-cases; offline keeps it). */
export const headerOf = (
  headers: Record<string, string | undefined> | null | undefined,
  name: string,
): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

/** The request header's value, whatever its case (API Gateway lower-cases them; tools may not). */
export const header = (event: APIGatewayProxyEventV2, name: string): string | undefined =>
  headerOf(event.headers, name);
