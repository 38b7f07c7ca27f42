import { Group, Radio, Stack, Text } from "@mantine/core";
import { DatePickerInput, TimeInput } from "@mantine/dates";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useFormat } from "../../lib/format";
import { addDays, type ExpiryChoice, type ExpiryPolicy } from "./expiry";

interface Props {
  policy: ExpiryPolicy;
  choice: ExpiryChoice;
  onChoiceChange: (choice: ExpiryChoice) => void;
  /** The picked day and time, `YYYY-MM-DDTHH:mm` (local time), or null. */
  customDate: string | null;
  onCustomDateChange: (value: string | null) => void;
  error?: string;
  customDateError?: string;
}

/** Expiry presets (30 / 90 / 365 days / custom date / never) as the organisation's policy allows. */
export function ExpiryField({
  policy,
  choice,
  onChoiceChange,
  customDate,
  onCustomDateChange,
  error,
  customDateError,
}: Props) {
  const { t } = useTranslation();
  const format = useFormat();
  const now = new Date();
  const presetDate = Number(choice) > 0 ? addDays(now, Number(choice)) : null;
  const day = customDate ? (customDate.split("T")[0] ?? null) : null;
  const [time, setTime] = useState(customDate?.split("T")[1] ?? "23:59");

  return (
    <Stack gap="xs">
      <Radio.Group
        label={t("tokens.create.expiry")}
        value={choice}
        onChange={(value) => onChoiceChange(value as ExpiryChoice)}
        error={error}
        description={
          presetDate
            ? t("tokens.create.expiresOn", { date: format.date(presetDate.toISOString()) })
            : choice === "never"
              ? t("tokens.create.neverHint")
              : undefined
        }
      >
        <Group mt="xs" gap="md">
          {policy.presets.map((days) => (
            <Radio key={days} value={`${days}`} label={t("tokens.create.days", { count: days })} />
          ))}
          <Radio value="custom" label={t("tokens.create.customDate")} />
          {policy.allowNever && <Radio value="never" label={t("tokens.create.never")} />}
        </Group>
      </Radio.Group>
      {choice === "custom" && (
        <Group align="flex-start" gap="sm" grow>
          <DatePickerInput
            label={t("tokens.create.expiryDate")}
            placeholder={t("tokens.create.pickDate")}
            value={day}
            onChange={(value) => onCustomDateChange(value ? `${value}T${time}` : null)}
            minDate={now}
            maxDate={policy.maxDate ?? undefined}
            error={customDateError}
            required
            clearable
            valueFormat="LL"
          />
          <TimeInput
            label={t("tokens.create.expiryTime")}
            value={time}
            onChange={(e) => {
              const next = e.currentTarget.value || "23:59";
              setTime(next);
              if (day) onCustomDateChange(`${day}T${next}`);
            }}
            required
          />
        </Group>
      )}
      {policy.maxDate && (
        <Text size="xs" c="dimmed">
          {t("tokens.create.maxExpiry", { date: format.date(policy.maxDate.toISOString()) })}
        </Text>
      )}
    </Stack>
  );
}
