/**
 * Child-process entry for `spawnBareVerifyServer`: waits for one "start" message carrying the tokens,
 * preloads them, listens on 127.0.0.1 and reports the URL. Exits on SIGTERM or when the parent goes away.
 */
import { type ChildReply, type ChildRequest, preload, startBareVerifyServer } from "./bare-http.js";

function reply(msg: ChildReply): void {
  process.send?.(msg);
}

if (!process.send) {
  console.error("bare-http-child.ts must be started with an IPC channel (use spawnBareVerifyServer)");
  process.exit(2);
}

process.once("message", (msg: ChildRequest) => {
  preload(msg.tokens);
  startBareVerifyServer(msg.port).then(
    (server) => {
      const stop = (): void => {
        void server.close().finally(() => process.exit(0));
      };
      process.once("SIGTERM", stop);
      process.once("disconnect", stop);
      reply({ type: "listening", url: server.url });
    },
    (err: unknown) => {
      reply({ type: "error", message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
