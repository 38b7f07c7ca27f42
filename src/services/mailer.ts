import nodemailer from "nodemailer";

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
  const transport = nodemailer.createTransport(smtpUrl);
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
