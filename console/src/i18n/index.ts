import "dayjs/locale/it";
import dayjs from "dayjs";
import relativeTime from "dayjs/plugin/relativeTime";
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import { en } from "./en";

dayjs.extend(relativeTime);

export type Language = "en" | "it";
export const LANGUAGES: readonly { code: Language; label: string }[] = [
  { code: "en", label: "English" },
  { code: "it", label: "Italiano" },
];

const STORAGE_KEY = "tessera.language";

function initialLanguage(): Language {
  try {
    const stored = window.localStorage.getItem(STORAGE_KEY);
    if (stored === "en" || stored === "it") return stored;
  } catch {
    // Storage can be unavailable (privacy mode); fall back to the browser's preference.
  }
  return navigator.language.toLowerCase().startsWith("it") ? "it" : "en";
}

function applyLanguage(language: Language): void {
  document.documentElement.lang = language;
  dayjs.locale(language);
}

const language = initialLanguage();
applyLanguage(language);

void i18n.use(initReactI18next).init({
  // Italian loads on demand (its own chunk): the first screen carries one language.
  resources: { en: { translation: en } },
  lng: language,
  fallbackLng: "en",
  interpolation: { escapeValue: false },
  returnNull: false,
});

i18n.on("languageChanged", (next) => {
  const code: Language = next === "it" ? "it" : "en";
  applyLanguage(code);
  try {
    window.localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // Not remembered, but still switched for this page.
  }
});

/** Switches the UI language, loading its strings first (English is always loaded). */
export async function setLanguage(language: Language): Promise<void> {
  if (language === "it" && !i18n.hasResourceBundle("it", "translation")) {
    const { it } = await import("./it");
    i18n.addResourceBundle("it", "translation", it);
  }
  await i18n.changeLanguage(language);
}

/** Resolves once the remembered language's strings are loaded; main.tsx renders after it. */
export const languageReady: Promise<void> = setLanguage(language);

export { i18n };
