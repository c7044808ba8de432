import { installEmbeddedParts } from '../../lib/embedded-parts.ts';
import { createEmbeddedParts } from './parts.ts';

/**
 * Installs in-memory Redis and Kafka for the functions of this process. `npm start` loads it
 * into serverless offline (`node --import tsx --import local/embedded/install.ts`) whenever a
 * part is embedded, before any function bundle runs; tests import it for the same reason.
 */
installEmbeddedParts(createEmbeddedParts());
