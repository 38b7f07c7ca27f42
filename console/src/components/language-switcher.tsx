import { Select } from "@mantine/core";
import { IconLanguage } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { LANGUAGES } from "../i18n";

export function LanguageSwitcher() {
  const { t, i18n } = useTranslation();
  return (
    <Select
      label={t("language.label")}
      aria-label={t("language.label")}
      labelProps={{ className: "visually-hidden" }}
      data={LANGUAGES.map((l) => ({ value: l.code, label: l.label }))}
      value={i18n.language === "it" ? "it" : "en"}
      onChange={(value) => {
        if (value) void i18n.changeLanguage(value);
      }}
      allowDeselect={false}
      leftSection={<IconLanguage size={16} />}
      w={150}
      size="xs"
      comboboxProps={{ withinPortal: true }}
    />
  );
}
