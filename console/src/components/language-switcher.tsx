import { NativeSelect } from "@mantine/core";
import { IconLanguage } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { api, unwrap } from "../api/client";
import { LANGUAGES, setLanguage } from "../i18n";

/**
 * English / Italiano, switchable at any time; the choice is remembered (see i18n/index.ts). Signed in
 * (`forAccount`), it is also the language of the person's notice mail (`PUT /v1/me/locale`).
 */
export function LanguageSwitcher({ forAccount = false }: { forAccount?: boolean }) {
  const { t, i18n } = useTranslation();
  const choose = (value: string) => {
    const code = value === "it" ? "it" : "en";
    void setLanguage(code);
    // Best effort: the console's language never waits for (or fails with) the mail preference.
    if (forAccount) void unwrap(api.PUT("/v1/me/locale", { body: { locale: code } })).catch(() => {});
  };
  return (
    <NativeSelect
      label={t("language.label")}
      labelProps={{ className: "visually-hidden" }}
      data={LANGUAGES.map((l) => ({ value: l.code, label: l.label }))}
      value={i18n.language === "it" ? "it" : "en"}
      onChange={(e) => choose(e.currentTarget.value)}
      leftSection={<IconLanguage size={16} />}
      w={150}
      size="xs"
    />
  );
}
