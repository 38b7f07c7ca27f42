import { z } from "zod";

/**
 * Zod 4 probes `new Function("")` to decide whether it may compile fast object parsers; the
 * console's CSP (`script-src 'self'`, no 'unsafe-eval') refuses it and reports a violation on every
 * load. The interpreted parsers are plenty fast for forms. The decision is taken when a schema is
 * constructed, so every form takes `z` from here, never from "zod" (which also keeps zod out of the
 * entry chunk: it loads with the first page that has a form).
 */
z.config({ jitless: true });

export { z };
