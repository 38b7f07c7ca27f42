// The ES module face of tessera-embed.js (which, as a classic script, defines window.TesseraEmbed).
import "./tessera-embed.js";

export const mount = globalThis.TesseraEmbed.mount;
