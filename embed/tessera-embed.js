/*
 * tessera-embed: mounts Tessera's embedded tokens screen (SPEC §9) in a host page.
 *
 *   <script src="https://tessera.example.com/embed.js"></script>
 *   <script>
 *     const embed = TesseraEmbed.mount(document.getElementById("tokens"), {
 *       url,                                 // from POST /v1/embed/sessions, minted by the host's backend
 *       onSessionExpired: () => fetchNewUrl().then((u) => embed.update(u)),
 *       onTokenCreated: (id) => console.log("created", id),
 *     });
 *   </script>
 *
 * Also an ES module: `import { mount } from "tessera/embed"`. No dependencies, no cookies: messages are
 * accepted only from the iframe's own window and Tessera's origin.
 */
((global) => {
  function mount(container, options) {
    if (!container || typeof container.appendChild !== "function") {
      throw new TypeError("TesseraEmbed.mount: the first argument must be a DOM element");
    }
    if (!options || typeof options.url !== "string") {
      throw new TypeError("TesseraEmbed.mount: options.url (from POST /v1/embed/sessions) is required");
    }
    var origin = new URL(options.url).origin;
    var iframe = document.createElement("iframe");
    iframe.title = options.title || "API tokens";
    iframe.src = options.url;
    iframe.style.width = "100%";
    iframe.style.border = "0";
    iframe.style.display = "block";
    iframe.style.height = `${options.minHeight || 320}px`;
    iframe.setAttribute("allow", "clipboard-write");
    container.appendChild(iframe);

    function onMessage(event) {
      if (event.source !== iframe.contentWindow || event.origin !== origin) return;
      var data = event.data;
      if (!data || typeof data.type !== "string" || data.type.indexOf("tessera:") !== 0) return;
      switch (data.type) {
        case "tessera:resize":
          if (typeof data.height === "number" && data.height > 0) {
            iframe.style.height = `${Math.max(options.minHeight || 0, Math.ceil(data.height))}px`;
          }
          break;
        case "tessera:ready":
          if (options.onReady) options.onReady();
          break;
        case "tessera:token-created":
          if (options.onTokenCreated) options.onTokenCreated(data.id);
          break;
        case "tessera:session-expired":
          if (options.onSessionExpired) options.onSessionExpired();
          break;
      }
      if (options.onMessage) options.onMessage(data);
    }
    global.addEventListener("message", onMessage);

    return {
      iframe: iframe,
      /** Shows a freshly minted session (after `onSessionExpired`). */
      update: (url) => {
        if (new URL(url).origin !== origin) throw new Error("TesseraEmbed: a new url must keep Tessera's origin");
        iframe.src = url;
      },
      destroy: () => {
        global.removeEventListener("message", onMessage);
        iframe.remove();
      },
    };
  }

  global.TesseraEmbed = { mount: mount };
})(typeof window !== "undefined" ? window : globalThis);
