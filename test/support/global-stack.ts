// Placeholder until local/stack lands: with NARAD_STACK=external the tests assume the broker,
// Redis and the gateway are already running.
export default async function setup(): Promise<void> {}
