import type { Register } from "../support.js";

export const registerServe: Register = (program) => {
  program
    .command("serve")
    .description(
      "Run the API and the console on TESSERA_HOST:TESSERA_PORT (default 127.0.0.1:7070); SIGTERM or SIGINT stops it " +
        "cleanly, and so does the end of standard input when it is a pipe (e.g. the parent `npm start` died)",
    )
    .action(async () => {
      const [{ loadCliConfig }, { closeOnSignals, startServer }] = await Promise.all([
        import("../support.js"),
        import("../../server.js"),
      ]);
      const server = await startServer(await loadCliConfig());
      closeOnSignals(server);
      process.stderr.write(`Tessera is listening on ${server.url} (console at ${server.url}/, API docs at ${server.url}/docs)\n`);
    });
};
