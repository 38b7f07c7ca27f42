// A fetch-style server (Hono on Node) with remote verification.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { remoteVerifier, tesseraHono, type VerifiedToken } from "../src/index.js";

const verifier = remoteVerifier({
  url: process.env.TESSERA_URL ?? "http://127.0.0.1:7070",
  // Throws at once, naming the variable, when it is not set.
  token: process.env.TESSERA_VERIFY_TOKEN ?? "",
});
const port = Number(process.env.PORT ?? 3000);

const app = new Hono<{ Variables: { tesseraToken: VerifiedToken } }>();
app.get("/messages", tesseraHono({ verifier, scopes: ["messages:send"] }), (c) => c.json({ hello: c.get("tesseraToken").name }));
serve({ fetch: app.fetch, hostname: "127.0.0.1", port }, () => console.log(`Listening on http://127.0.0.1:${port}/messages`));
