/**
 * Keeps the hidden class of Node's `process.nextTick` records alive for the life of the process.
 *
 * Every response Node writes goes through `process.nextTick` several times, and each call builds its
 * record with an object literal (`{ [async_id_symbol]: …, [trigger_async_id_symbol]: …, callback,
 * args }`). V8 reaches that literal's hidden class through map transitions, which are weak: a full GC
 * at a moment when no record is alive clears them. What we measured in the Tessera server (not in a
 * bare node:http server, and not in a small synthetic test): after the app is built, every record was
 * built through the runtime (`Runtime_DefineKeyedOwnPropertyInLiteral`, map migrations, called from
 * `nextTick`, `onwrite` and `resume`), which cost about 3 µs of server CPU per `POST /v1/verify`
 * (bench/README.md, "Profiling the HTTP path"). Our reading is that the cleared transition cannot be
 * re-added once the app's compiled schemas have filled the root map's transition table.
 *
 * Holding one record alive holds its map and the transition chain to it; with this module imported
 * first by the entry points, those runtime calls disappear from the profile.
 */
import { executionAsyncResource } from "node:async_hooks";

const kept: object[] = [];

// Inside a nextTick callback, the execution resource is the record of that very call.
process.nextTick(() => {
  kept.push(executionAsyncResource());
});

/** The kept record, once the first tick has run (for tests: Node still hands it out this way). */
export function keptTickRecord(): object | undefined {
  return kept[0];
}
