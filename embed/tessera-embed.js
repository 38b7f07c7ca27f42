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
    // A fresh iframe per session: a new URL differs from the old one only in its fragment, which would
    // not reload the page (and so not exchange the new handoff).
    var frame = (src) => {
      var element = document.createElement("iframe");
      element.title = options.title || "API tokens";
      element.src = src;
      element.style.width = "100%";
      element.style.border = "0";
      element.style.display = "block";
      element.style.height = `${options.minHeight || 320}px`;
      element.setAttribute("allow", "clipboard-write");
      return element;
    };
    var iframe = frame(options.url);
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
      get iframe() {
        return iframe;
      },
      /** Shows a freshly minted session (after `onSessionExpired`). */
      update: (url) => {
        if (new URL(url).origin !== origin) throw new Error("TesseraEmbed: a new url must keep Tessera's origin");
        var next = frame(url);
        iframe.replaceWith(next);
        iframe = next;
      },
      destroy: () => {
        global.removeEventListener("message", onMessage);
        iframe.remove();
      },
    };
  }

  global.TesseraEmbed = { mount: mount };
})(typeof window !== "undefined" ? window : globalThis);
