// In-process verification: this server opens Tessera's storage itself (TESSERA_DATA_DIR or
// TESSERA_DATABASE_URL, as the Tessera server does) and verifies without a network hop.
import Fastify from "fastify";
import { createTessera, inProcessVerifier, loadConfig, requireToken } from "../src/index.js";

const tessera = await createTessera(loadConfig());
const verifier = inProcessVerifier(tessera);

const app = Fastify({ logger: true });
app.get("/messages", { preHandler: requireToken({ verifier, scopes: ["messages:send"] }) }, async (request) => ({
  hello: request.tesseraToken?.name,
  scopes: request.tesseraToken?.scopes,
}));
app.addHook("onClose", () => tessera.close());

await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT ?? 3000) });
