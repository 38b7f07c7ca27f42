import { createRequire } from "node:module";
import type nodemailer from "nodemailer";

export type MailLocale = "en" | "it";

export const MAIL_LOCALES: readonly MailLocale[] = ["en", "it"];

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Sends mail; absent when `TESSERA_SMTP_URL` is unset (links are then shown to whoever made them). */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** A mailer over SMTP (`smtp://` or `smtps://`), through nodemailer. */
export function createSmtpMailer(smtpUrl: string, from: string): Mailer {
  // Required here, not imported above: the mail templates below are used by every process, nodemailer
  // (dozens of modules) only where SMTP is configured. Its CommonJS build is the same API.
  const { createTransport } = createRequire(import.meta.url)("nodemailer") as typeof nodemailer;
  const transport = createTransport(smtpUrl);
  return {
    async send(mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
    },
    close: () => transport.close(),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The body around one link. Nothing else variable goes in: no inviter or organisation name (both are
 * chosen by whoever sends the invitation, and would turn Tessera into a carrier of their text), and no
 * secret but the link's own.
 */
function linkMail(to: string, subject: string, lines: string[], cta: string, link: string): Mail {
  const text = `${lines.join("\n\n")}\n\n${link}\n`;
  const html = `<!doctype html><html><body>${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join("")}<p><a href="${escapeHtml(link)}">${escapeHtml(cta)}</a></p><p>${escapeHtml(link)}</p></body></html>`;
  return { to, subject, text, html };
}

export function invitationMail(to: string, link: string, locale: MailLocale = "en"): Mail {
  if (locale === "it") {
    return linkMail(
      to,
      "Invito a un'organizzazione su Tessera",
      [
        "Sei stato invitato a unirti a un'organizzazione su Tessera.",
        "Apri il link entro 7 giorni per vedere l'invito e accettarlo. Se non te lo aspettavi, ignora questo messaggio.",
      ],
      "Apri l'invito",
      link,
    );
  }
  return linkMail(
    to,
    "You are invited to an organisation on Tessera",
    [
      "You have been invited to join an organisation on Tessera.",
      "Open the link within 7 days to see the invitation and accept it. If you did not expect it, ignore this message.",
    ],
    "Open the invitation",
    link,
  );
}

export function passwordResetMail(to: string, link: string, locale: MailLocale = "en"): Mail {
  if (locale === "it") {
    return linkMail(
      to,
      "Reimposta la password di Tessera",
      [
        "Qualcuno ha chiesto di reimpostare la password del tuo account Tessera.",
        "Il link vale un'ora e una sola volta. Se non l'hai chiesto tu, ignora questo messaggio: la password resta quella di prima.",
      ],
      "Scegli una nuova password",
      link,
    );
  }
  return linkMail(
    to,
    "Reset your Tessera password",
    [
      "Someone asked to reset the password of your Tessera account.",
      "The link works once, within one hour. If it was not you, ignore this message: your password stays as it is.",
    ],
    "Choose a new password",
    link,
  );
}

/** What a token notice mail says (SPEC §10, §11): never the secret, only the masked token. */
export interface NoticeMailInput {
  kind: "expiring" | "expired" | "stale" | "deactivated" | "leaked";
  tokenName: string;
  maskedToken: string;
  /** Expiry (expiring, expired), ISO 8601. */
  expiresAt?: string | null | undefined;
  /** Days: until expiry (expiring), unused for (stale, deactivated). */
  days?: number | undefined;
  /** Where the secret was found (leaked). */
  url?: string | null | undefined;
  /** What the leak response did (leaked): revoke, suspend or notify. */
  action?: "revoke" | "suspend" | "notify" | undefined;
  /** The console, to act from. */
  link: string;
}

const NOTICE_TEXT: Record<MailLocale, (n: NoticeMailInput) => { subject: string; lines: string[]; cta: string }> = {
  en: (n) => {
    const token = `Token "${n.tokenName}" (${n.maskedToken})`;
    switch (n.kind) {
      case "expiring":
        return {
          subject: `Tessera: a token expires in ${n.days} day${n.days === 1 ? "" : "s"}`,
          lines: [`${token} expires on ${n.expiresAt}.`, "Regenerate it with a new expiry before then if it is still needed."],
          cta: "Open Tessera",
        };
      case "expired":
        return {
          subject: "Tessera: a token has expired",
          lines: [`${token} expired on ${n.expiresAt} and is refused from now on.`, "Regenerate it if it is still needed."],
          cta: "Open Tessera",
        };
      case "stale":
        return {
          subject: "Tessera: a token has not been used for a while",
          lines: [`${token} has not been used for ${n.days} days.`, "If nothing needs it any more, revoke it."],
          cta: "Open Tessera",
        };
      case "deactivated":
        return {
          subject: "Tessera: an unused token was deactivated",
          lines: [
            `${token} was not used for ${n.days} days and has been deactivated by the organisation's policy.`,
            "Activate it again if it is still needed.",
          ],
          cta: "Open Tessera",
        };
      case "leaked":
        return {
          subject: "Tessera: a token was found in public",
          lines: [
            `${token} was found in public${n.url ? ` at ${n.url}` : ""}.`,
            n.action === "revoke"
              ? "It has been revoked. Create a new token and replace it wherever it is used."
              : n.action === "suspend"
                ? "It has been suspended. Regenerate it, then resume it."
                : "It still works: regenerate or revoke it now.",
          ],
          cta: "Open Tessera",
        };
    }
  },
  it: (n) => {
    const token = `Il token "${n.tokenName}" (${n.maskedToken})`;
    switch (n.kind) {
      case "expiring":
        return {
          subject: `Tessera: un token scade tra ${n.days} ${n.days === 1 ? "giorno" : "giorni"}`,
          lines: [`${token} scade il ${n.expiresAt}.`, "Se serve ancora, rigeneralo con una nuova scadenza prima di allora."],
          cta: "Apri Tessera",
        };
      case "expired":
        return {
          subject: "Tessera: un token è scaduto",
          lines: [`${token} è scaduto il ${n.expiresAt} e da ora viene rifiutato.`, "Se serve ancora, rigeneralo."],
          cta: "Apri Tessera",
        };
      case "stale":
        return {
          subject: "Tessera: un token non viene usato da tempo",
          lines: [`${token} non viene usato da ${n.days} giorni.`, "Se non serve più, revocalo."],
          cta: "Apri Tessera",
        };
      case "deactivated":
        return {
          subject: "Tessera: un token inutilizzato è stato disattivato",
          lines: [
            `${token} non è stato usato per ${n.days} giorni ed è stato disattivato dalla politica dell'organizzazione.`,
            "Se serve ancora, riattivalo.",
          ],
          cta: "Apri Tessera",
        };
      case "leaked":
        return {
          subject: "Tessera: un token è stato trovato in pubblico",
          lines: [
            `${token} è stato trovato in pubblico${n.url ? ` in ${n.url}` : ""}.`,
            n.action === "revoke"
              ? "È stato revocato. Crea un nuovo token e sostituiscilo ovunque venga usato."
              : n.action === "suspend"
                ? "È stato sospeso. Rigeneralo, poi riattivalo."
                : "Funziona ancora: rigeneralo o revocalo subito.",
          ],
          cta: "Apri Tessera",
        };
    }
  },
};

/** A token notice for one recipient, in their language. */
export function noticeMail(to: string, notice: NoticeMailInput, locale: MailLocale = "en"): Mail {
  const { subject, lines, cta } = NOTICE_TEXT[locale](notice);
  return linkMail(to, subject, lines, cta, notice.link);
}

/** An endpoint's deliveries were given up (SPEC §10): to the organisation's owners and admins. */
export function webhookFailingMail(to: string, endpointUrl: string, link: string, locale: MailLocale = "en"): Mail {
  if (locale === "it") {
    return linkMail(
      to,
      "Un endpoint webhook di Tessera non risponde",
      [
        "Un endpoint webhook della tua organizzazione su Tessera non accetta più eventi: una consegna è stata ritentata per più di 24 ore e poi abbandonata.",
        `Endpoint: ${endpointUrl}`,
        "I nuovi eventi restano in coda e vengono inviati; nella console l'endpoint risulta in errore finché una consegna non riesce. Le consegne fallite si possono ritentare dalla console.",
      ],
      "Apri la console",
      link,
    );
  }
  return linkMail(
    to,
    "A Tessera webhook endpoint is failing",
    [
      "A webhook endpoint of your organisation on Tessera stopped accepting events: a delivery was retried for more than 24 hours and given up.",
      `Endpoint: ${endpointUrl}`,
      "New events are still queued and sent; the endpoint shows as failing in the console until a delivery succeeds. Failed deliveries can be retried from the console.",
    ],
    "Open the console",
    link,
  );
}

/** A stored locale as a mail locale (English unless the person chose Italian). */
export function mailLocale(value: string | null | undefined): MailLocale {
  return value === "it" ? "it" : "en";
}
