// Runs the example host app: `npx tsx examples/host-app/server.ts` (see README.md beside it).
import { createHostApp } from "./app.js";

const rootToken = process.env.TESSERA_ROOT_TOKEN;
if (!rootToken) {
  process.stderr.write("Set TESSERA_ROOT_TOKEN to a root token: npx tessera root-token create --name host-app\n");
  process.exit(2);
}
const port = Number(process.env.PORT ?? 3000);
const tesseraUrl = process.env.TESSERA_URL ?? "http://127.0.0.1:7070";
createHostApp({ tesseraUrl, rootToken }).listen(port, "127.0.0.1", () => {
  process.stdout.write(`Example host app on http://localhost:${port} (Tessera at ${tesseraUrl})\n`);
});
