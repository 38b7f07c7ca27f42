import dayjs from "dayjs";
import { useTranslation } from "react-i18next";

/** Localised date helpers bound to the current UI language (Intl for absolute dates, dayjs for relative ones). */
export function useFormat() {
  const { t, i18n } = useTranslation();
  const locale = i18n.language === "it" ? "it-IT" : "en-GB";
  const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const date = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
  const number = new Intl.NumberFormat(locale);
  return {
    locale,
    dateTime: (iso: string | null | undefined) => (iso ? dateTime.format(new Date(iso)) : t("common.never")),
    date: (iso: string | null | undefined) => (iso ? date.format(new Date(iso)) : t("common.never")),
    /** "5 days ago" / "5 giorni fa"; `null` → "Never". */
    relative: (iso: string | null | undefined) => (iso ? dayjs(iso).locale(i18n.language).fromNow() : t("common.never")),
    number: (n: number) => number.format(n),
  };
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** True when `iso` is in the future but no more than `days` away. */
export function isWithinDays(iso: string | null, days: number, now = Date.now()): boolean {
  if (!iso) return false;
  const at = new Date(iso).getTime();
  return at > now && at - now <= days * DAY_MS;
}
