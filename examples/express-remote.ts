// Remote verification: calls Tessera's POST /v1/verify with a service token holding tokens:verify.
import express from "express";
import { remoteVerifier, tesseraExpress } from "../src/index.js";

const verifier = remoteVerifier({
  url: process.env.TESSERA_URL ?? "http://127.0.0.1:7070",
  // Throws at once, naming the variable, when it is not set.
  token: process.env.TESSERA_VERIFY_TOKEN ?? "",
});
const port = Number(process.env.PORT ?? 3000);

const app = express();
app.get("/messages", tesseraExpress({ verifier, scopes: ["messages:send"] }), (_req, res) => {
  res.json({ hello: res.locals.tesseraToken });
});
app.listen(port, "127.0.0.1", () => console.log(`Listening on http://127.0.0.1:${port}/messages`));
