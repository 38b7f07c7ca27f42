import { NativeSelect } from "@mantine/core";
import { IconLanguage } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage } from "../i18n";

/** English / Italiano, switchable at any time; the choice is remembered (see i18n/index.ts). */
export function LanguageSwitcher() {
  const { t, i18n } = useTranslation();
  return (
    <NativeSelect
      label={t("language.label")}
      labelProps={{ className: "visually-hidden" }}
      data={LANGUAGES.map((l) => ({ value: l.code, label: l.label }))}
      value={i18n.language === "it" ? "it" : "en"}
      onChange={(e) => void setLanguage(e.currentTarget.value === "it" ? "it" : "en")}
      leftSection={<IconLanguage size={16} />}
      w={150}
      size="xs"
    />
  );
}
