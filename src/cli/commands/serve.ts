import type { Register } from "../support.js";

export const registerServe: Register = (program) => {
  program
    .command("serve")
    .description(
      "Run the API and the console on TESSERA_HOST:TESSERA_PORT (default 127.0.0.1:7070); SIGTERM or SIGINT stops it " +
        "cleanly (requests drained, usage flushed), and so does the exit of the process that started it",
    )
    .action(async () => {
      const [{ loadCliConfig }, { closeOnSignals, startServer }, { onParentExit }] = await Promise.all([
        import("../support.js"),
        import("../../server.js"),
        import("../../runtime/parent-watch.js"),
      ]);
      const server = await startServer(await loadCliConfig());
      closeOnSignals(server);
      // The same graceful path as a signal: drain, flush usage, close storage.
      onParentExit(() => process.kill(process.pid, "SIGTERM"));
      process.stderr.write(`Tessera is listening on ${server.url} (console at ${server.url}/, API docs at ${server.url}/docs)\n`);
    });
};
