import { z } from "zod";

/**
 * Zod 4 probes `new Function("")` to decide whether it may compile fast object parsers; the
 * console's CSP (`script-src 'self'`, no 'unsafe-eval') refuses it and reports a violation on every
 * load. The interpreted parsers are plenty fast for forms. It must run before any schema is built
 * (the decision is taken when a schema is constructed), so main.tsx imports this module first.
 */
z.config({ jitless: true });
